// The live feed client: one WebSocket on /ws/jobs for every job the caller may see.
//
// It keeps the id of the last event it handled and, when the connection drops, reconnects
// with ?after=<that id>: the server replays exactly what was missed, then goes live, so the
// view catches up in place instead of reloading. States, for the live indicator:
//   connecting   first connection, not yet caught up
//   connected    caught up (after the server's `ready`), events arrive live
//   reconnecting lost; retrying with backoff and resuming from the last event id
//   offline      the browser is offline or the API has been unreachable for a while;
//                still retrying, less often
// Close codes: 4401 (bad key) stops and signs out; 4408 (too slow) resumes at once.

const OFFLINE_AFTER_MS = 20_000;
const MAX_BACKOFF_MS = 5_000;

export class Feed extends EventTarget {
  constructor({ key, path = "/ws/jobs" }) {
    super();
    this.key = key;
    this.path = path;
    this.lastEventId = null; // null: never connected; the first connection gets a snapshot
    this.state = "connecting";
    this.ws = null;
    this.attempt = 0;
    this.lostAt = null;
    this.timer = null;
    this.stopped = false;
    this.online = () => this.reconnectNow();
    window.addEventListener("online", this.online);
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    window.removeEventListener("online", this.online);
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close(1000, "signed out");
      this.ws = null;
    }
  }

  reconnectNow() {
    if (this.stopped || (this.ws && this.ws.readyState <= WebSocket.OPEN)) return;
    clearTimeout(this.timer);
    this.open();
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: state }));
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const after = this.lastEventId === null ? "" : `?after=${this.lastEventId}`;
    return `${scheme}//${location.host}${this.path}${after}`;
  }

  open() {
    clearTimeout(this.timer);
    let ws;
    try {
      // The key travels as a subprotocol: never in the URL, where logs would keep it.
      ws = new WebSocket(this.url(), ["jobdeck", `bearer.${this.key()}`]);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    const resuming = this.lastEventId !== null;
    ws.onmessage = (message) => this.handle(JSON.parse(message.data), resuming);
    ws.onclose = (close) => this.closed(close);
  }

  handle(message, resuming) {
    switch (message.type) {
      case "event":
        this.lastEventId = Math.max(this.lastEventId ?? 0, message.event.id);
        this.dispatchEvent(new CustomEvent("event", { detail: message.event }));
        break;
      case "snapshot":
        this.dispatchEvent(new CustomEvent("snapshot", { detail: message }));
        break;
      case "reset":
        // Events we missed were pruned: what we show may be stale; a snapshot follows.
        this.dispatchEvent(new CustomEvent("reset", { detail: message }));
        break;
      case "ready":
        this.lastEventId = Math.max(this.lastEventId ?? 0, message.lastEventId);
        this.attempt = 0;
        this.lostAt = null;
        this.setState("connected");
        this.dispatchEvent(new CustomEvent("ready", { detail: { resumed: resuming } }));
        break;
      case "heartbeat":
        this.lastEventId = Math.max(this.lastEventId ?? 0, message.lastEventId);
        break;
      default:
        break;
    }
  }

  closed(close) {
    this.ws = null;
    if (this.stopped) return;
    if (close.code === 4401) {
      this.stopped = true;
      this.dispatchEvent(new CustomEvent("unauthorized", { detail: close.reason }));
      return;
    }
    if (this.lostAt === null) this.lostAt = Date.now();
    if (close.code === 4408) {
      // Too slow (a long catch-up in a busy tab): resume from our last id right away.
      this.setState("reconnecting");
      this.open();
      return;
    }
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    if (this.stopped) return;
    const away = this.lostAt === null ? 0 : Date.now() - this.lostAt;
    const offline = navigator.onLine === false || away > OFFLINE_AFTER_MS;
    this.setState(offline ? "offline" : "reconnecting");
    this.attempt += 1;
    const base = Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(this.attempt - 1, 5));
    const delay = base / 2 + Math.random() * (base / 2);
    this.timer = setTimeout(() => this.open(), delay);
  }
}
