// The jobs table: one keyed row per job. Rows are created once and then patched cell by
// cell (only what changed is written), and reordering moves existing rows, so live updates
// and a catch-up after a reconnect never rebuild the table and never flicker.

import { clear, h, icon, setText } from "./dom.js";
import {
  canCancel,
  canRetry,
  duration,
  fullTime,
  jobDuration,
  percentOf,
  progressText,
  shortTime,
  STATUS_LABEL,
  TERMINAL,
  typeHue,
} from "./format.js";

export function statusBadge(status) {
  const badge = h(`span.badge.badge-${status}`);
  fillBadge(badge, status);
  return badge;
}

function fillBadge(badge, status) {
  badge.className = `badge badge-${status}`;
  clear(badge).append(
    icon(status, status === "active" ? "icon spin" : "icon"),
    h("span", null, STATUS_LABEL[status] || status),
  );
}

export function typeChip(type) {
  const chip = h("span.type-chip", null, type);
  chip.style.setProperty("--hue", String(typeHue(type)));
  return chip;
}

/** A progress bar (role=progressbar) with its percent and current/total text. */
export class ProgressView {
  constructor(label) {
    this.fill = h("div.progress-fill");
    this.bar = h(
      "div.progress",
      { role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-label": label },
      this.fill,
    );
    this.percent = h("span.progress-pct");
    this.count = h("span.progress-count");
    this.el = h("div.progress-cell", null, this.bar, h("div.progress-text", null, this.percent, this.count));
    this.last = {};
  }

  update(job) {
    const percent = percentOf(job);
    const indeterminate = percent === null && job.status === "active";
    const state = { percent, indeterminate, status: job.status, text: progressText(job) };
    if (state.percent !== this.last.percent || state.indeterminate !== this.last.indeterminate) {
      // A scaled bar, not a changing width: the compositor animates it without a layout.
      const scale = percent === null ? (indeterminate ? 0.35 : 0) : percent / 100;
      this.fill.style.transform = `scaleX(${scale})`;
      this.bar.classList.toggle("indeterminate", indeterminate);
      if (percent === null) this.bar.removeAttribute("aria-valuenow");
      else this.bar.setAttribute("aria-valuenow", String(Math.round(percent)));
      setText(this.percent, percent === null ? "" : `${Math.floor(percent)}%`);
    }
    if (state.status !== this.last.status) this.bar.dataset.status = job.status;
    setText(this.count, state.text);
    this.last = state;
  }
}

class Row {
  constructor(job) {
    this.id = job.id;
    this.check = h("input", { type: "checkbox", dataset: { action: "select" } });
    this.name = h("a.job-name", { href: `/jobs/${encodeURIComponent(job.id)}`, dataset: { nav: "" } });
    this.description = h("div.job-desc");
    this.typeCell = h("td.col-type");
    this.badge = h("span.badge");
    this.stuckMark = h("span.stuck-mark", { hidden: true });
    this.progress = new ProgressView("Progress");
    this.duration = h("span.duration-text");
    this.durationCell = h("td.col-duration.num", null, this.duration);
    this.stale = false;
    this.created = h("time");
    this.view = h("a.btn.btn-small", { href: `/jobs/${encodeURIComponent(job.id)}`, dataset: { nav: "" } }, "View");
    this.cancel = h("button.btn.btn-small.btn-danger", { type: "button", dataset: { action: "cancel" } }, "Cancel");
    this.retry = h("button.btn.btn-small", { type: "button", dataset: { action: "retry" } }, "Retry");
    this.el = h(
      "tr",
      { dataset: { id: job.id } },
      h("td.col-select", null, this.check),
      h("td.col-job", null, this.name, this.description),
      this.typeCell,
      h("td.col-status", null, this.badge, this.stuckMark),
      h("td.col-progress", null, this.progress.el),
      this.durationCell,
      h("td.col-created", null, this.created),
      h("td.col-actions", null, h("div.actions", null, this.view, this.cancel, this.retry)),
    );
    this.last = {};
  }

  update(job, selected) {
    const last = this.last;
    if (job.name !== last.name) {
      setText(this.name, job.name);
      this.check.setAttribute("aria-label", `Select ${job.name}`);
      this.progress.bar.setAttribute("aria-label", `Progress of ${job.name}`);
      this.view.setAttribute("aria-label", `View ${job.name}`);
      this.cancel.setAttribute("aria-label", `Cancel ${job.name}`);
      this.retry.setAttribute("aria-label", `Retry ${job.name}`);
    }
    if (job.description !== last.description) {
      setText(this.description, job.description || "");
      this.description.hidden = !job.description;
    }
    if (job.type !== last.type) clear(this.typeCell).append(typeChip(job.type));
    if (job.status !== last.status) {
      fillBadge(this.badge, job.status);
      this.el.dataset.status = job.status;
      this.cancel.hidden = !canCancel(job);
      this.retry.hidden = !canRetry(job);
    }
    if (job.createdAt !== last.createdAt) {
      setText(this.created, shortTime(job.createdAt));
      if (job.createdAt) {
        this.created.dateTime = job.createdAt;
        this.created.title = fullTime(job.createdAt);
      }
    }
    this.progress.update(job);
    this.tick(job);
    if (this.check.checked !== selected) this.check.checked = selected;
    this.last = { name: job.name, description: job.description, type: job.type, status: job.status, createdAt: job.createdAt };
  }

  tick(job, now = Date.now()) {
    setText(this.duration, duration(jobDuration(job, now)));
    this.showStuck(job, now);
  }

  /** "No progress for 14 min" while the watchdog finds the job stuck (its `stuck` event). */
  showStuck(job, now) {
    const stuck = job.stuck && !TERMINAL.has(job.status) ? job.stuck : null;
    this.stuckMark.hidden = !stuck;
    if (!stuck) return;
    const idle = idleText((now - Date.parse(stuck.since)) / 1000);
    const text = stuck.reason === "pending" ? `Pending for ${idle}, workers idle` : `No progress for ${idle}`;
    setText(this.stuckMark, text);
    this.stuckMark.title = `Stuck: ${text.toLowerCase()}`;
  }

  /** Frozen and marked while the feed is not live (the job may have moved on). */
  setStale(on) {
    if (on === this.stale) return;
    this.stale = on;
    this.durationCell.classList.toggle("stale", on);
    if (on) {
      this.durationCell.title = "Stale: live updates are paused until the connection is back";
      this.staleMark = h(
        "span.stale-mark",
        null,
        "stale",
        h("span.visually-hidden", null, ": live updates are paused until the connection is back"),
      );
      this.durationCell.append(this.staleMark);
    } else {
      this.durationCell.removeAttribute("title");
      if (this.staleMark) this.staleMark.remove();
      this.staleMark = null;
    }
  }
}

export class JobsTable {
  constructor({ onAction, onSelect }) {
    this.rows = new Map();
    this.order = [];
    this.stale = false; // the feed is not live: active rows' durations stop and are marked
    this.selectAll = h("input", { type: "checkbox", "aria-label": "Select every job on this page" });
    this.body = h("tbody");
    this.empty = h("div.empty", { hidden: true });
    // The sortable columns' headers (list-extras.js puts a sort button in each).
    this.headers = {
      status: h("th", { scope: "col" }, "Status"),
      duration: h("th.num", { scope: "col" }, "Duration"),
      created: h("th", { scope: "col" }, "Created"),
    };
    this.el = h(
      "div.table-wrap",
      null,
      h(
        "table.jobs",
        null,
        h("caption.visually-hidden", null, "Jobs, newest first"),
        h(
          "thead",
          null,
          h(
            "tr",
            null,
            h("th.col-select", { scope: "col" }, this.selectAll),
            h("th", { scope: "col" }, "Job"),
            h("th", { scope: "col" }, "Type"),
            this.headers.status,
            h("th", { scope: "col" }, "Progress"),
            this.headers.duration,
            this.headers.created,
            h("th", { scope: "col" }, h("span.visually-hidden", null, "Actions")),
          ),
        ),
        this.body,
      ),
      this.empty,
    );
    this.body.addEventListener("click", (e) => {
      const button = e.target.closest("button[data-action]");
      if (!button) return;
      const id = button.closest("tr").dataset.id;
      onAction(button.dataset.action, id, button);
    });
    this.body.addEventListener("change", (e) => {
      if (e.target.dataset.action === "select") onSelect([e.target.closest("tr").dataset.id], e.target.checked);
    });
    this.selectAll.addEventListener("change", () => onSelect([...this.order], this.selectAll.checked));
  }

  /** Show these jobs in this order (moving, adding and removing rows as needed). */
  render(jobs, { selected, flash = new Set(), emptyText = "No jobs yet." } = {}) {
    const ids = jobs.map((job) => job.id);
    const keep = new Set(ids);
    for (const [id, row] of this.rows) {
      if (!keep.has(id)) {
        row.el.remove();
        this.rows.delete(id);
      }
    }
    let cursor = this.body.firstChild;
    for (const job of jobs) {
      let row = this.rows.get(job.id);
      if (!row) {
        row = new Row(job);
        this.rows.set(job.id, row);
        if (flash.has(job.id)) row.el.classList.add("row-new");
      }
      row.update(job, selected.has(job.id));
      row.setStale(this.stale && job.status === "active");
      if (row.el === cursor) cursor = cursor.nextSibling;
      else this.body.insertBefore(row.el, cursor);
    }
    this.order = ids;
    this.empty.hidden = ids.length > 0;
    // A sentence, or the nodes of a longer empty state (the first steps).
    if (typeof emptyText === "string") setText(this.empty, emptyText);
    else if (this.empty.firstChild !== emptyText) this.empty.replaceChildren(emptyText);
    this.syncSelectAll(selected);
  }

  /** Patch the rows of these jobs only. */
  update(jobs, selected) {
    for (const job of jobs) {
      const row = this.rows.get(job.id);
      if (row) {
        row.update(job, selected.has(job.id));
        row.setStale(this.stale && job.status === "active");
      }
    }
  }

  /** The feed went offline (on) or is live again (off). */
  setStale(on, getJob) {
    this.stale = on;
    const now = Date.now();
    for (const row of this.rows.values()) {
      const job = getJob(row.id);
      const active = Boolean(job && job.status === "active");
      if (!on && active) row.tick(job, now);
      row.setStale(on && active);
    }
  }

  syncSelection(selected) {
    for (const row of this.rows.values()) {
      const on = selected.has(row.id);
      if (row.check.checked !== on) row.check.checked = on;
    }
    this.syncSelectAll(selected);
  }

  syncSelectAll(selected) {
    const on = this.order.filter((id) => selected.has(id)).length;
    this.selectAll.checked = on > 0 && on === this.order.length;
    this.selectAll.indeterminate = on > 0 && on < this.order.length;
  }

  tick(getJob) {
    if (this.stale) return;
    const now = Date.now();
    for (const row of this.rows.values()) {
      const job = getJob(row.id);
      if (job && (job.status === "active" || job.stuck)) row.tick(job, now);
    }
  }
}

/** As the watchdog words it (activities/stuck.py idle_text): 90 s, 14 min, 2.5 h. */
function idleText(seconds) {
  const s = Math.max(0, seconds);
  if (s < 120) return `${Math.floor(s)} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
