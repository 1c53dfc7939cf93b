// The bulk-selection bar: cancel or retry the selected jobs, or every job matching the
// filter, through one `bulk-operation` job whose own progress is shown here, live.

import { h, setText } from "./dom.js";
import { number, TERMINAL } from "./format.js";
import { ProgressView } from "./table.js";

const VERB = { cancel: "Cancel", retry: "Retry" };
const DOING = { cancel: "Cancelling", retry: "Retrying" };

export class BulkBar {
  constructor({ api, confirm, toast, navigate, onSelectAllMatching, onClear }) {
    this.api = api;
    this.confirm = confirm;
    this.toast = toast;
    this.navigate = navigate;
    this.selection = { ids: new Set(), allMatching: false, filters: null, pageCount: 0 };
    this.op = null; // the bulk job being followed: {id, action}
    this.count = h("span.bulk-count");
    this.allMatching = h("button.btn.btn-small.btn-link", { type: "button", onclick: onSelectAllMatching });
    this.cancel = h("button.btn.btn-small.btn-danger", { type: "button", onclick: () => this.run("cancel") });
    this.retry = h("button.btn.btn-small", { type: "button", onclick: () => this.run("retry") });
    this.clear = h("button.btn.btn-small.btn-quiet", { type: "button", onclick: onClear }, "Clear selection");
    this.selectionBar = h(
      "div.bulk-selection",
      null,
      this.count,
      this.allMatching,
      h("div.bulk-actions", null, this.cancel, this.retry, this.clear),
    );
    this.opText = h("span.bulk-op-text");
    this.opProgress = new ProgressView("Bulk operation progress");
    this.opLink = h("a.btn.btn-small.btn-link", { dataset: { nav: "" } }, "View");
    this.opDismiss = h("button.btn.btn-small.btn-quiet", { type: "button", onclick: () => this.dismiss() }, "Dismiss");
    this.opBar = h("div.bulk-op", { hidden: true }, this.opText, this.opProgress.el, this.opLink, this.opDismiss);
    this.el = h("section.bulk", { "aria-label": "Bulk actions", hidden: true }, this.selectionBar, this.opBar);
  }

  /** ids: selected on this page; allMatching: the whole filter (every page). */
  setSelection(selection) {
    this.selection = selection;
    const { ids, allMatching, pageCount, hasMore } = selection;
    const some = allMatching || ids.size > 0;
    this.selectionBar.hidden = !some;
    const what = allMatching ? "every job matching the filter" : `${number(ids.size)} selected`;
    setText(this.count, allMatching ? "All jobs matching the filter are selected" : `${what}`);
    this.allMatching.hidden = allMatching || !hasMore || ids.size < pageCount || pageCount === 0;
    setText(this.allMatching, "Select every job matching the filter");
    setText(this.cancel, allMatching ? "Cancel all matching" : "Cancel selected");
    setText(this.retry, allMatching ? "Retry all matching" : "Retry selected");
    this.syncHidden();
  }

  syncHidden() {
    this.el.hidden = this.selectionBar.hidden && this.opBar.hidden;
  }

  async run(action) {
    const { ids, allMatching, filters } = this.selection;
    const filter = {};
    let what;
    if (allMatching) {
      if (filters.status) filter.statuses = filters.status.split(",");
      if (filters.type) filter.types = [filters.type];
      if (filters.q) filter.q = filters.q;
      // The operator filters (list-extras.js), as the bulk filter names them.
      if (filters.priority) filter.priorities = [Number(filters.priority)];
      if (filters.owner) filter.owner = filters.owner;
      if (filters.created_after) filter.createdAfter = filters.created_after;
      if (filters.created_before) filter.createdBefore = filters.created_before;
      what = "every job matching the filter";
    } else {
      filter.ids = [...ids];
      what = `${ids.size} job${ids.size === 1 ? "" : "s"}`;
    }
    const note = action === "cancel" ? "Only pending and active ones are cancelled." : "Only failed and cancelled ones are retried.";
    if (!(await this.confirm(`${VERB[action]} ${what}?`, note, `${VERB[action]} them`))) return;
    try {
      const job = await this.api.createJob({
        type: "bulk-operation",
        name: `${action} ${what}`,
        description: "Started from the dashboard",
        data: { action, filter },
      });
      this.follow(job, action);
      this.onStarted && this.onStarted();
    } catch (err) {
      this.toast(`Could not start the bulk ${action}: ${err.message}`, "error");
    }
  }

  follow(job, action) {
    this.op = { id: job.id, action };
    this.opLink.href = `/jobs/${encodeURIComponent(job.id)}`;
    this.opLink.setAttribute("aria-label", "View the bulk operation");
    this.opBar.hidden = false;
    this.update(job);
    this.syncHidden();
  }

  /** A change of the followed bulk job (from the feed or a fetch). */
  update(job) {
    if (!this.op || job.id !== this.op.id) return;
    this.opProgress.update(job);
    this.opBar.dataset.status = job.status;
    const doing = DOING[this.op.action];
    if (job.status === "completed" && job.result) {
      const r = job.result;
      const done = this.op.action === "cancel" ? "cancelled" : "retried";
      setText(this.opText, `Done: ${number(r.succeeded)} ${done}, ${number(r.skipped)} skipped, ${number(r.failed)} failed`);
    } else if (TERMINAL.has(job.status)) {
      setText(this.opText, `Bulk ${this.op.action} ${job.status}`);
    } else {
      setText(this.opText, `${doing}…`);
    }
  }

  dismiss() {
    this.op = null;
    this.opBar.hidden = true;
    this.syncHidden();
  }
}
