// The dashboard's entry point: sign-in, the client-side router (the pages are the table in
// routes.js; this is their shared lifecycle), the live indicator, toasts and the confirm
// dialog, and the wiring of the feed to the jobs list and the page shown.

import { createApi, createSession, currentSession, endSession } from "./api.js";
import { h } from "./dom.js";
import { Feed } from "./feed.js";
import { ListView } from "./listview.js";
import { match, ROUTES } from "./routes.js";
import { onOtherTabs, signInView, takeLegacyKey, tellTabs } from "./signin.js";
import { JobStore } from "./store.js";

const main = document.getElementById("main");
const nav = document.querySelector(".mainnav");
const topbarEnd = document.querySelector(".topbar-end");
const live = document.getElementById("live");
const liveText = live.querySelector(".live-text");
const liveRetry = document.getElementById("live-retry");
const toasts = document.getElementById("toasts");
const dialog = document.getElementById("confirm");

const LIVE_TEXT = {
  connecting: "Connecting…",
  connected: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline",
};

let session = null;
let routing = 0; // numbers the navigations: a page whose module arrives late is not shown

// The top bar's section links, from the route table.
nav.replaceChildren(
  ...ROUTES.filter((r) => r.nav).map((r) => h("a", { href: r.path, dataset: { nav: "", section: r.section } }, r.nav)),
);

function toast(text, kind = "info", link = null) {
  const close = h("button.toast-close", { type: "button", "aria-label": "Dismiss" }, "×");
  const el = h(
    `div.toast.toast-${kind}`,
    null,
    h("span", null, text),
    link ? h("a", { href: link.href, dataset: { nav: "" } }, link.text) : null,
    close,
  );
  const remove = () => el.remove();
  close.addEventListener("click", remove);
  toasts.append(el);
  setTimeout(remove, kind === "error" ? 12000 : 6000);
}

function confirmAction(title, text, okLabel, keepLabel = "Keep them") {
  dialog.querySelector("#confirm-title").textContent = title;
  dialog.querySelector("#confirm-text").textContent = text;
  dialog.querySelector("#confirm-ok").textContent = okLabel;
  dialog.querySelector('button[value="cancel"]').textContent = keepLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

function setLive(state) {
  live.dataset.state = state;
  liveText.textContent = LIVE_TEXT[state] || state;
  live.title = state === "connected" ? "Receiving job events live" : "";
  liveRetry.hidden = state !== "offline";
}

function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  route();
}

const ENDED = "Your session has ended (signed out elsewhere, or its API key revoked). Sign in again.";

/** Sign out here; `everywhere` also ends the browser's session (the cookie every tab shares)
 * and tells the other tabs, which sign out at once. */
function signOut(reason, { everywhere = false } = {}) {
  if (everywhere) {
    endSession().catch((err) => console.warn("sign-out:", err.message));
    tellTabs("signed-out");
  }
  if (session) {
    session.feed.stop();
    clearInterval(session.list.ticker);
    if (session.page) session.page.destroy();
    session = null;
  }
  showSignIn(reason);
}

function showSignIn(reason) {
  nav.hidden = true;
  topbarEnd.hidden = true;
  document.title = "Sign in · jobdeck";
  main.replaceChildren(signInView({ reason, onSignedIn: () => startSession() }));
}

function startSession() {
  if (session) return;
  const store = new JobStore();
  const api = createApi({ onUnauthorized: () => signOut(ENDED) });
  // An empty key: the feed is signed in by the session cookie (ws.py), not a subprotocol.
  const feed = new Feed({ key: () => "" });
  const list = new ListView({ api, store, toast, confirm: confirmAction, navigate });
  // What every page is given (with its path's parameters, the list's URL and `first`).
  const context = { api, store, feed, list, toast, confirm: confirmAction, navigate };
  session = { context, feed, list, page: null, listUrl: "/" };
  // For diagnostics from the console and for bench/dashboard.py (read only).
  window.jobdeck = { feed, store };
  // The jobs the page shown follows stay in the store, whatever the list shows.
  list.keep = () => (session && session.page && session.page.jobIds ? session.page.jobIds().filter(Boolean) : []);

  feed.addEventListener("state", (e) => setLive(e.detail));
  feed.addEventListener("event", (e) => {
    list.event(e.detail);
    if (session.page) session.page.event(e.detail);
  });
  feed.addEventListener("snapshot", (e) => list.snapshot(e.detail));
  feed.addEventListener("ready", (e) => {
    if (!e.detail.resumed) return;
    list.resumed();
    if (session.page && session.page.resumed) session.page.resumed();
  });
  feed.addEventListener("reset", () => list.resumed());
  feed.addEventListener("unauthorized", () => signOut(ENDED));
  liveRetry.onclick = () => feed.reconnectNow();

  nav.hidden = false;
  topbarEnd.hidden = false;
  setLive("connecting");
  feed.start();
  // The jobs list starts when first shown (JobsPage): a session opened on another page (a
  // shared link to a job, the Operations page) neither fetches nor keeps up a list it does
  // not show.
  route({ first: true });
}

/** The page where there is none: a heading, a few lines and the way back. */
class Placeholder {
  constructor(title, lines) {
    this.el = h(
      "div.page.page-placeholder",
      null,
      h("h1", { tabIndex: -1 }, title),
      lines.map((line) => h("p", null, line)),
      h("p", null, h("a", { href: "/", dataset: { nav: "" } }, "← Back to jobs")),
    );
  }

  start() {}
  destroy() {}
  event() {}
}

const NOT_FOUND = { section: "", title: "Not found" };

/** Show the page of the current URL: look it up in the route table, load its module, destroy
 * the page shown, then build, start and mount the new one. */
async function route({ first = false } = {}) {
  if (!session) return;
  const mine = ++routing;
  const current = session;
  const path = location.pathname.replace(/\/+$/, "") || "/";
  let found = match(path);
  if (found && found.route.redirect) {
    history.replaceState(null, "", `${found.route.redirect}${location.search}`);
    found = match(found.route.redirect);
  }
  const entry = found ? found.route : NOT_FOUND;
  let page;
  try {
    const View = found ? await found.route.view() : null;
    if (mine !== routing || session !== current) return; // navigated on, or signed out, meanwhile
    page = View
      ? new View({ ...current.context, ...found.params, listUrl: current.listUrl, first })
      : new Placeholder("Page not found", [`There is no dashboard page at ${path}.`]);
  } catch (err) {
    if (mine !== routing || session !== current) return;
    console.error(err);
    page = new Placeholder("Could not load this page", [`${err.message}. Reload the page to try again.`]);
  }
  if (current.page) current.page.destroy();
  current.page = page;
  if (entry.title) document.title = `${entry.title} · jobdeck`;
  page.start();
  const view = page.el;
  if (main.firstChild !== view || main.childElementCount !== 1) main.replaceChildren(view);
  for (const link of nav.querySelectorAll("a"))
    if (link.dataset.section === entry.section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  if (!first) {
    // Move focus to the new page's heading, so a screen reader announces where we are.
    const heading = view.querySelector("h1");
    if (heading) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
    window.scrollTo(0, 0);
  }
}

// Same-origin links marked data-nav are client-side navigations (modifier keys and
// middle clicks still open a new tab as usual).
document.addEventListener("click", (e) => {
  const link = e.target.closest("a[data-nav]");
  if (!link || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin) return;
  e.preventDefault();
  if (session && location.pathname === "/") session.listUrl = `/${location.search}`;
  navigate(url.pathname + url.search);
});

window.addEventListener("popstate", () => route());
document.getElementById("sign-out").addEventListener("click", () => signOut(undefined, { everywhere: true }));
onOtherTabs((what) => {
  if (what === "signed-out" && session) signOut("You signed out in another tab.");
  else if (what === "signed-in" && !session) startSession();
});

/** On load: the browser's session if it has one (a new tab, a shared link), else sign-in. */
async function resume() {
  try {
    const legacy = takeLegacyKey();
    if (legacy) await createSession(legacy).catch(() => null);
    if (await currentSession()) startSession();
    else showSignIn();
  } catch (err) {
    showSignIn(`Could not reach the API: ${err.message}`);
  }
}

resume();
