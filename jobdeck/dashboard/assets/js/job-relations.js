// The job page's panels for what a job is made of and what it is part of: its input (the
// payload it was created with), its attempts with each failed try's error (the
// `attempt_failed` events that jobdeck/activities/attempts.py records), the job that
// started it, the schedule that fired it, the jobs it waits for (dependsOn), and the jobs
// it started (GET /api/jobs?parent=).
// They follow the page's live events, so a try that fails or a child that starts while
// the page is open shows without a reload.

import { clear, h, setText } from "./dom.js";
import { duration, fullTime } from "./format.js";
import { statusBadge, typeChip } from "./table.js";

const CHILDREN_PAGE = 50;

const jobHref = (id) => `/jobs/${encodeURIComponent(id)}`;
const navLink = (href, label) => h("a", { href, dataset: { nav: "" } }, label);

/** The input the job was created with, shown as it was given (re-run with edits uses it). */
export function inputPanel(job, actions = null) {
  return h(
    "section.card.input-card",
    { "aria-labelledby": "input-title" },
    h("div.card-head", null, h("h2", { id: "input-title" }, "Input"), actions),
    h("pre.json", { tabIndex: 0, "aria-label": "Input data" }, JSON.stringify(job.data ?? {}, null, 2)),
  );
}

/** Every try of the job's steps that failed, with its error and the wait before the next. */
export class AttemptsPanel {
  constructor() {
    this.count = h("p.muted.attempts-count");
    this.list = h("ol.attempts");
    this.el = h(
      "section.card.attempts-card",
      { "aria-labelledby": "attempts-title" },
      h("h2", { id: "attempts-title" }, "Attempts"),
      this.count,
      this.list,
    );
    this.failures = 0;
  }

  update(job) {
    const tries = job.attempts ?? 0;
    const failed = this.failures ? `, ${this.failures} failed` : "";
    setText(this.count, tries ? `${tries} tr${tries === 1 ? "y" : "ies"}${failed}.` : "Not started yet.");
  }

  /** One of the job's events (stored or live, each once, in id order). */
  event(event, job) {
    if (event.kind !== "attempt_failed") return;
    const data = event.data || {};
    const err = data.error || {};
    this.failures += 1;
    const next =
      data.retryInSeconds != null ? `next try in ${duration(data.retryInSeconds)}` : "no further try";
    this.list.append(
      h(
        "li.attempt",
        null,
        h(
          "div.attempt-head",
          null,
          h("strong", null, `Attempt ${data.attempt ?? "?"}`),
          data.step ? [" of ", h("code", null, data.step)] : null,
          " · ",
          h("time", { dateTime: event.createdAt }, fullTime(event.createdAt)),
          " · ",
          h("span.muted", null, next),
        ),
        h("div.attempt-error", null, h("code.error-type", null, err.type || "error"), " ", h("span", null, err.message || "")),
      ),
    );
    if (job) this.update(job);
  }
}

/** The job's family: the job that started it, the schedule that fired it, its children. */
export class RelatedPanel {
  constructor({ id, api }) {
    this.id = id;
    this.api = api;
    this.facts = h("dl.facts.related-facts");
    this.children = h("ul.children");
    this.childrenNote = h("p.muted.children-note");
    this.more = h("button.btn.btn-small", { type: "button", hidden: true, onclick: () => this.loadChildren() }, "More children");
    this.rows = new Map(); // child id -> its row's badge slot
    this.cursor = null;
    this.el = h(
      "section.card.related-card",
      { "aria-labelledby": "related-title" },
      h("h2", { id: "related-title" }, "Related jobs"),
      this.facts,
      h("h3", null, "Children"),
      this.childrenNote,
      this.children,
      this.more,
    );
  }

  render(job) {
    const waitsFor = job.dependsOn ?? [];
    const key = `${job.parentId}|${job.scheduleId}|${waitsFor.join(",")}`;
    if (key === this.shown) return;
    this.shown = key;
    clear(this.facts);
    const fact = (label, value) => this.facts.append(h("dt", null, label), h("dd", null, value));
    fact("Parent", job.parentId ? navLink(jobHref(job.parentId), "the job that started it") : "none");
    if (job.scheduleId) fact("Schedule", navLink(`/schedules/${encodeURIComponent(job.scheduleId)}`, "the schedule that fired it"));
    if (waitsFor.length) fact("Depends on", waitsFor.map((id, i) => [i ? ", " : null, navLink(jobHref(id), `job ${id.slice(0, 8)}`)]));
  }

  async loadChildren() {
    this.more.disabled = true;
    try {
      const page = await this.api.listJobs({ parent: this.id, limit: CHILDREN_PAGE, cursor: this.cursor });
      for (const child of page.data) this.put(child, false);
      this.cursor = page.nextCursor;
      this.more.hidden = !page.nextCursor;
      setText(this.childrenNote, this.rows.size ? "" : "It started no other job.");
    } catch (err) {
      setText(this.childrenNote, `Could not load its children: ${err.message}`);
    } finally {
      this.more.disabled = false;
    }
  }

  /** A child, new (from the feed: at the top) or from the list (in its order). */
  put(child, atTop) {
    const known = this.rows.get(child.id);
    if (known) {
      if (known.status !== child.status) {
        known.status = child.status;
        clear(known.slot).append(statusBadge(child.status));
      }
      return;
    }
    const slot = h("span.child-status", null, statusBadge(child.status));
    const row = h("li.child", null, slot, " ", navLink(jobHref(child.id), child.name), " ", typeChip(child.type));
    this.rows.set(child.id, { slot, status: child.status });
    if (atTop) this.children.prepend(row);
    else this.children.append(row);
    setText(this.childrenNote, "");
  }

  /** Any live event: a child starting or changing status shows here. */
  event(event) {
    const state = event.data && event.data.job;
    if (!state || state.parentId !== this.id) return;
    this.put(state, true);
  }
}
