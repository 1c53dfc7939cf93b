// Workers and task queues (GET /api/operations/queues): each queue with the workers polling
// it for workflow and activity tasks, its backlog (by priority where there is one), a
// warning when work waits and no worker polls, and the running jobs with the worker that
// runs each one's current step. Refreshed every few seconds while shown; admins only.

import { h, setText } from "./dom.js";
import { duration, number, relativeTime } from "./format.js";

const REFRESH_MS = 5000;

export class QueuesPanel {
  constructor({ api }) {
    this.api = api;
    this.list = h("div.queues");
    this.note = h("p.muted.queues-note", { "aria-live": "polite" });
    this.running = h("tbody");
    this.noRunning = h("p.muted", { hidden: true }, "None of your jobs is running.");
    this.el = h(
      "div.queues-wrap",
      null,
      h("section.card", { "aria-labelledby": "queues-heading" }, h("h2", { id: "queues-heading" }, "Task queues and workers"), this.note, this.list),
      h(
        "section.card",
        { "aria-labelledby": "running-heading" },
        h("h2", { id: "running-heading" }, "Running jobs and their workers"),
        h(
          "div.table-wrap",
          null,
          h(
            "table.running",
            null,
            h("caption.visually-hidden", null, "Your newest running jobs, the step each is in and the worker running it"),
            h("thead", null, h("tr", null, ["Job", "Type", "Step", "Try", "Worker"].map((t) => h("th", { scope: "col" }, t)))),
            this.running,
          ),
        ),
        this.noRunning,
      ),
    );
  }

  /** Shown to admins only, as the API answers only them (the queues are shared by every
   * organization and name the workers' hosts). */
  async start() {
    this.el.hidden = true;
    const me = await this.api.me().catch(() => null);
    if (this.stopped || !me || me.role !== "admin") return;
    this.el.hidden = false;
    this.load();
  }

  destroy() {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  async load() {
    try {
      const report = await this.api.send("GET", "/api/operations/queues");
      if (this.stopped) return;
      this.render(report);
      setText(this.note, `Checked ${new Date(report.checkedAt).toLocaleTimeString()}; the backlog is Temporal's approximation.`);
    } catch (err) {
      if (this.stopped) return;
      setText(this.note, `Could not describe the queues: ${err.message}`);
    }
    if (!this.stopped) this.timer = setTimeout(() => this.load(), REFRESH_MS);
  }

  render(report) {
    this.list.replaceChildren(...report.queues.map((q) => this.queue(q)));
    this.noRunning.hidden = report.running.length > 0;
    this.running.replaceChildren(
      ...report.running.map((r) =>
        h(
          "tr",
          null,
          h("td", null, h("a", { href: `/jobs/${encodeURIComponent(r.jobId)}`, dataset: { nav: "" } }, r.name)),
          h("td", null, r.type),
          h("td", null, r.step ? h("code", null, r.step) : "–"),
          h("td", null, r.attempt != null ? String(r.attempt) : "–"),
          h("td", null, r.worker || (r.step ? "not picked up yet" : "–")),
        ),
      ),
    );
  }

  queue(q) {
    const label = `Queue ${q.name}`;
    return h(
      "article.queue",
      { "aria-label": label },
      h("h3", null, h("code", null, q.name), " ", h("span.muted", null, q.role)),
      q.warning ? h("p.notice.notice-error.queue-warning", { role: "alert" }, q.warning) : null,
      h("p.muted", null, `Job types: ${q.types.join(", ") || "–"} · your jobs waiting or running: ${number(q.jobsWaiting)}`),
      h(
        "table.queue-sides",
        null,
        h("caption.visually-hidden", null, `${label}: workers and backlog`),
        h("thead", null, h("tr", null, ["Tasks", "Workers polling", "Backlog", "Oldest waiting", "Added / s", "Dispatched / s"].map((t, i) => h(i > 1 ? "th.num" : "th", { scope: "col" }, t)))),
        h(
          "tbody",
          null,
          q.sides.map((s) =>
            h(
              "tr",
              { dataset: { kind: s.kind } },
              h("th", { scope: "row" }, s.kind),
              h(
                "td.pollers",
                null,
                s.error
                  ? h("span.notice-error", null, s.error)
                  : s.pollers.length
                    ? h("ul.poller-list", null, s.pollers.map((p) => h("li", null, h("code", null, p.identity), p.lastAccessTime ? h("span.muted", null, ` polled ${relativeTime(p.lastAccessTime)}`) : null)))
                    : h("strong.no-pollers", null, "none"),
              ),
              h("td.num", null, number(s.backlog), priorities(s.backlogByPriority)),
              h("td.num", null, s.backlog ? duration(s.backlogAgeSeconds) : "–"),
              h("td.num", null, number(s.addRate)),
              h("td.num", null, number(s.dispatchRate)),
            ),
          ),
        ),
      ),
    );
  }
}

function priorities(byKey) {
  const entries = Object.entries(byKey || {});
  if (!entries.length) return null;
  return h("div.muted.by-priority", null, entries.map(([key, n]) => `priority ${key}: ${number(n)}`).join(", "));
}
