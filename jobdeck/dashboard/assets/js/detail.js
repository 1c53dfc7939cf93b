// One job's page (/jobs/<id>): progress with stage, rate and ETA, the facts, the error of a
// failed job, the result, its links (the job it retried, the jobs retrying it, its
// workflow in the Temporal Web UI) and its timeline: the stored events from
// GET /api/jobs/{id}/events followed by the feed's live ones, without a gap or a repeat.

import { append, clear, h, icon, setText } from "./dom.js";
import {
  canCancel,
  canRetry,
  duration,
  eta,
  fullTime,
  jobDuration,
  number,
  rate,
  TERMINAL,
} from "./format.js";
import { AttemptsPanel, inputPanel, RelatedPanel } from "./job-relations.js";
import { PipelineRunPanel } from "./pipeline-run.js";
import { ProgressView, statusBadge, typeChip } from "./table.js";

const MAX_TIMELINE = 300;
// A job's last log lines may be stored just after it ends: one more look this much later.
const LOG_SETTLE_MS = 1500;

function pretty(value) {
  return JSON.stringify(value, null, 2);
}

function jobLink(id, navigate, label) {
  return h("a", { href: `/jobs/${encodeURIComponent(id)}`, dataset: { nav: "" } }, label || id);
}

export class DetailView {
  constructor({ id, api, store, toast, confirm, navigate, listUrl }) {
    this.id = id;
    this.confirm = confirm;
    this.api = api;
    this.store = store;
    this.toast = toast;
    this.navigate = navigate;
    this.lastEventId = 0;
    this.pending = []; // feed events that arrived before the stored timeline
    this.timelineLoaded = false;
    this.retriedAs = [];
    this.lastStage = undefined;
    this.hiddenProgress = 0;
    this.back = h("a.back", { href: listUrl, dataset: { nav: "" } }, "← All jobs");
    this.title = h("h1.detail-title", { tabIndex: -1 }, "Loading job…");
    this.el = h("div.page.page-detail", { "aria-busy": "true" }, this.back, this.title);
    this.unsubscribe = store.subscribe((changed) => changed.has(this.id) && this.update());
    this.ticker = setInterval(() => this.tick(), 1000);
    this.lastLogId = 0;
    this.logsLoading = false;
    this.logsDone = false;
    this.logsAgain = false;
    this.logTicker = setInterval(() => this.pollLogs(), 1500);
  }

  destroy() {
    this.unsubscribe();
    clearInterval(this.ticker);
    clearInterval(this.logTicker);
    if (this.runPanel) this.runPanel.destroy();
  }

  /** The job this page follows: the store keeps it whatever the list shows. */
  jobIds() {
    return [this.id];
  }

  /** The feed is back after a gap: the record may have moved on. */
  resumed() {
    this.reload();
    if (this.runPanel) this.runPanel.load();
  }

  reload() {
    this.api.job(this.id).then((job) => this.store.put(job), () => {});
  }

  async start() {
    let job;
    try {
      job = this.store.put(await this.api.job(this.id));
    } catch (err) {
      this.el.removeAttribute("aria-busy");
      setText(this.title, err.status === 404 ? "Job not found" : "Could not load the job");
      this.el.append(h("p.notice.notice-error", { role: "alert" }, err.message));
      return;
    }
    this.build(job);
    this.update();
    this.el.removeAttribute("aria-busy");
    await Promise.all([this.loadTimeline(), this.loadLogs(), this.runPanel ? this.runPanel.load() : null]);
  }

  /** While the job runs (and once more after it ends): its new log lines. */
  pollLogs() {
    if (!this.logList || this.logsDone) return;
    const job = this.store.get(this.id);
    if (job && TERMINAL.has(job.status)) {
      this.logsDone = true;
      // Lines the job logged just before it ended may be stored a moment after its end.
      setTimeout(() => this.loadLogs(), LOG_SETTLE_MS);
    }
    this.loadLogs();
  }

  async loadLogs() {
    if (!this.logList) return;
    if (this.logsLoading) {
      this.logsAgain = true; // asked for while a fetch runs: one more after it
      return;
    }
    this.logsLoading = true;
    try {
      for (;;) {
        const page = await this.api.logs(this.id, this.lastLogId);
        for (const line of page.data) this.addLogLine(line);
        this.lastLogId = page.nextAfter;
        if (page.data.length < 1000) break;
      }
      setText(this.logNote, this.logList.childElementCount ? "" : "No log lines yet.");
    } catch (err) {
      setText(this.logNote, `Could not load the logs: ${err.message}`);
    } finally {
      this.logsLoading = false;
      if (this.logsAgain) {
        this.logsAgain = false;
        this.loadLogs();
      }
    }
  }

  addLogLine(line) {
    const stick = this.logList.scrollTop + this.logList.clientHeight >= this.logList.scrollHeight - 4;
    const time = h("time", { dateTime: line.time, title: fullTime(line.time) }, fullTime(line.time));
    const where = `${line.step || "-"}${line.attempt > 1 ? ` (try ${line.attempt})` : ""}`;
    this.logList.append(
      h(`li.log-line.log-${line.level}`, null, time, " ", h("span.log-level", null, line.level), " ", h("span.log-step", null, where), " ", h("span.log-message", null, line.message)),
    );
    while (this.logList.childElementCount > MAX_TIMELINE) this.logList.firstElementChild.remove();
    if (stick) this.logList.scrollTop = this.logList.scrollHeight;
  }

  build(job) {
    setText(this.title, job.name);
    document.title = `${job.name} · jobdeck`;
    this.badgeSlot = h("span.detail-badge");
    this.cancel = h("button.btn.btn-danger", { type: "button", onclick: () => this.doCancel() }, "Cancel job");
    this.retry = h("button.btn", { type: "button", onclick: () => this.doRetry() }, "Retry job");
    this.rerun = h("a.btn", { href: `/new-job?from=${encodeURIComponent(job.id)}`, dataset: { nav: "" } }, "Re-run with edited input");
    const workflow = h(
      "a.btn.btn-quiet",
      { href: job.links.workflow, target: "_blank", rel: "noopener noreferrer" },
      "Workflow in Temporal Web UI ",
      icon("external"),
    );
    this.progress = new ProgressView(`Progress of ${job.name}`);
    this.stage = h("dd");
    this.count = h("dd");
    this.rate = h("dd");
    this.eta = h("dd");
    this.message = h("p.progress-message");
    this.facts = {
      status: h("dd"),
      attempts: h("dd"),
      started: h("dd"),
      finished: h("dd"),
      duration: h("dd"),
    };
    this.links = h("dl.facts.links");
    this.errorBox = h("section.error-box", { hidden: true, "aria-labelledby": "error-title" });
    this.resultBox = h("section.card", { hidden: true, "aria-labelledby": "result-title" });
    this.timeline = h("ol.timeline");
    this.timelineNote = h("p.muted.timeline-note");
    this.logList = h("ol.job-logs", { tabIndex: 0, "aria-label": "Log lines" });
    this.logNote = h("p.muted.logs-note");
    this.attemptsPanel = new AttemptsPanel();
    this.related = new RelatedPanel({ id: this.id, api: this.api });
    // A pipeline run: its steps as a graph, live (pipeline-run.js).
    if (job.type === "workflow-execution")
      this.runPanel = new PipelineRunPanel({ jobId: job.id, job, api: this.api, toast: this.toast, confirm: this.confirm, getJob: () => this.store.get(this.id) });
    const fact = (label, dd) => [h("dt", null, label), dd];
    this.el.append(
      h(
        "div.detail-head",
        null,
        h("div.detail-meta", null, this.badgeSlot, typeChip(job.type), h("code.job-id", null, job.id)),
        job.description ? h("p.detail-desc", null, job.description) : null,
        h("div.detail-actions", null, this.cancel, this.retry, this.rerun, workflow),
      ),
      h(
        "section.card",
        { "aria-labelledby": "progress-title" },
        h("h2", { id: "progress-title" }, "Progress"),
        this.progress.el,
        this.message,
        h("dl.facts.facts-inline", null, fact("Stage", this.stage), fact("Done", this.count), fact("Rate", this.rate), fact("ETA", this.eta)),
      ),
      ...(this.runPanel ? [this.runPanel.el] : []), // native append would write a null as text
      this.errorBox,
      h(
        "div.detail-grid",
        null,
        h(
          "section.card",
          { "aria-labelledby": "facts-title" },
          h("h2", { id: "facts-title" }, "Details"),
          h(
            "dl.facts",
            null,
            fact("Status", this.facts.status),
            fact("Type", h("dd", null, job.type)),
            fact("Priority", h("dd", null, String(job.priority))),
            fact("Attempts", this.facts.attempts),
            fact("Created", h("dd", null, fullTime(job.createdAt))),
            fact("Started", this.facts.started),
            fact("Finished", this.facts.finished),
            fact("Duration", this.facts.duration),
          ),
          this.links,
        ),
        h(
          "section.card",
          { "aria-labelledby": "timeline-title" },
          h("h2", { id: "timeline-title" }, "Timeline"),
          this.timelineNote,
          this.timeline,
        ),
      ),
      h(
        "section.card.logs-card",
        { "aria-labelledby": "logs-title" },
        h("h2", { id: "logs-title" }, "Logs"),
        this.logNote,
        this.logList,
      ),
      this.resultBox,
      h("div.detail-grid", null, this.attemptsPanel.el, this.related.el),
      inputPanel(job),
    );
    this.related.loadChildren();
  }

  update() {
    const job = this.store.get(this.id);
    if (!job || !this.progress) return;
    if (job.status !== this.shownStatus) {
      clear(this.badgeSlot).append(statusBadge(job.status));
      this.shownStatus = job.status;
    }
    this.cancel.hidden = !canCancel(job);
    this.retry.hidden = !canRetry(job);
    this.rerun.hidden = !TERMINAL.has(job.status);
    this.progress.update(job);
    const p = job.progress || {};
    setText(this.stage, p.stage || "–");
    setText(this.count, p.total != null ? `${number(p.current ?? 0)} of ${number(p.total)} ${p.unit || ""}` : `${number(p.current ?? 0)} ${p.unit || ""}`);
    setText(this.rate, job.status === "active" ? rate(p) : "–");
    setText(this.eta, job.status === "active" ? eta(p) : "–");
    setText(this.message, p.message || "");
    setText(this.facts.status, job.status);
    setText(this.facts.attempts, String(job.attempts ?? 0));
    setText(this.facts.started, fullTime(job.startedAt));
    setText(this.facts.finished, fullTime(job.finishedAt));
    this.tick();
    this.renderError(job);
    this.renderResult(job);
    this.renderLinks(job);
    this.attemptsPanel.update(job);
    this.related.render(job);
  }

  tick() {
    const job = this.store.get(this.id);
    if (job && this.facts) setText(this.facts.duration, duration(jobDuration(job)));
  }

  renderError(job) {
    const error = job.error;
    this.errorBox.hidden = !error;
    if (!error || this.shownError === error) return;
    this.shownError = error;
    append(clear(this.errorBox), [
      h("h2", { id: "error-title" }, icon("failed"), " Error"),
      h("dl.facts", null, h("dt", null, "Type"), h("dd", null, h("code.error-type", null, error.type)), h("dt", null, "Message"), h("dd.error-message", null, error.message)),
      error.details != null ? [h("h3", null, "Details"), h("pre.json", { tabIndex: 0 }, pretty(error.details))] : null,
    ]);
  }

  renderResult(job) {
    const result = job.result;
    this.resultBox.hidden = result == null;
    if (result == null || this.shownResult === result) return;
    this.shownResult = result;
    clear(this.resultBox).append(h("h2", { id: "result-title" }, "Result"), h("pre.json", { tabIndex: 0 }, pretty(result)));
  }

  renderLinks(job) {
    const used = job.data && typeof job.data.datasetId === "string" ? job.data.datasetId : null;
    const made = job.result && typeof job.result.datasetId === "string" ? job.result.datasetId : null;
    const key = `${job.retryOf}|${this.retriedAs.join(",")}|${used}|${made}|${job.result && job.result.modelId}`;
    if (key === this.shownLinks) return;
    this.shownLinks = key;
    clear(this.links);
    if (job.retryOf) this.links.append(h("dt", null, "Retry of"), h("dd", null, jobLink(job.retryOf, this.navigate, "the original job")));
    if (this.retriedAs.length)
      this.links.append(
        h("dt", null, "Retried as"),
        h("dd", null, this.retriedAs.map((id, i) => [i ? ", " : "", jobLink(id, this.navigate, this.retriedAs.length === 1 ? "the new job" : `try ${i + 2}`)])),
      );
    const dataset = (id, label) => h("a", { href: `/datasets/${encodeURIComponent(id)}`, dataset: { nav: "" } }, label);
    if (used) this.links.append(h("dt", null, "Dataset used"), h("dd", null, dataset(used, "the input dataset")));
    if (made && made !== used) this.links.append(h("dt", null, "Dataset made"), h("dd", null, dataset(made, "the output dataset")));
    if (job.type === "fine-tuning" || job.type === "model-training")
      this.links.append(h("dt", null, "Fine-tune"), h("dd", null, h("a", { href: `/fine-tuning/${encodeURIComponent(job.id)}`, dataset: { nav: "" } }, "the fine-tune's page")));
    const model = (id, label) => h("a", { href: `/fine-tuning/models/${encodeURIComponent(id)}`, dataset: { nav: "" } }, label);
    if (job.type === "model-publish" && job.data && typeof job.data.modelId === "string")
      this.links.append(h("dt", null, "Adapter"), h("dd", null, model(job.data.modelId, "the adapter's model")));
    if (job.type === "model-publish" && job.result && typeof job.result.modelId === "string")
      this.links.append(h("dt", null, "Published"), h("dd", null, model(job.result.modelId, "the Ollama model")));
    this.links.hidden = !this.links.firstChild;
  }

  async loadTimeline() {
    let after = 0;
    try {
      for (;;) {
        const page = await this.api.events(this.id, after);
        for (const event of page.data) this.addEvent(event);
        if (page.data.length < 1000) break;
        after = page.nextAfter;
      }
    } catch (err) {
      setText(this.timelineNote, `Could not load the timeline: ${err.message}`);
    }
    this.timelineLoaded = true;
    for (const event of this.pending) this.addEvent(event);
    this.pending = [];
  }

  /** A live event, from the feed: this job's go on the timeline. */
  event(event) {
    if (this.related) this.related.event(event);
    if (this.runPanel) this.runPanel.event(event);
    if (event.jobId !== this.id) return;
    // The record has what events do not carry: the result.
    if (TERMINAL.has(event.kind)) this.reload();
    if (this.timelineLoaded) this.addEvent(event);
    else this.pending.push(event);
  }

  addEvent(event) {
    if (event.id <= this.lastEventId || !this.timeline) return;
    this.lastEventId = event.id;
    this.attemptsPanel.event(event, this.store.get(this.id));
    if (event.kind === "retried" && event.data.newJobId) {
      this.retriedAs.push(event.data.newJobId);
      const job = this.store.get(this.id);
      if (job) this.renderLinks(job);
    }
    const entry = this.describe(event);
    if (!entry) {
      this.hiddenProgress += 1;
      setText(this.timelineNote, `${number(this.hiddenProgress)} progress reports are summed up in the bar above.`);
      return;
    }
    const time = h("time", { dateTime: event.createdAt, title: fullTime(event.createdAt) }, fullTime(event.createdAt));
    this.timeline.append(h(`li.tl-${event.kind}`, null, h("span.tl-dot", { "aria-hidden": "true" }), h("div.tl-body", null, h("span.tl-text", null, entry), time)));
    while (this.timeline.childElementCount > MAX_TIMELINE) this.timeline.firstElementChild.remove();
  }

  describe(event) {
    const data = event.data || {};
    const job = data.job || {};
    switch (event.kind) {
      case "created":
        return "Created";
      case "started":
        return "Started";
      case "progress": {
        const stage = job.progress && job.progress.stage;
        if (stage && stage !== this.lastStage) {
          this.lastStage = stage;
          return `Stage: ${stage}`;
        }
        return null;
      }
      case "message":
        return data.message || "Message";
      case "metric":
        return `Metric: ${Object.entries(data).filter(([k]) => k !== "job").map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ")}`;
      case "attempt_failed": {
        const err = data.error || {};
        const retry = data.retryInSeconds != null ? `; next try in ${duration(data.retryInSeconds)}` : "";
        return `Attempt ${data.attempt ?? "?"} failed: ${err.type || "error"}: ${err.message || ""}${retry}`;
      }
      case "cancel_requested":
        return "Cancel requested";
      case "stuck": // the watchdog's finding (jobdeck/activities/stuck.py)
        return `Stuck: ${data.message || "no progress"}`;
      case "unstuck":
        return `No longer stuck: ${data.message || "moving again"}`;
      case "retried":
        return [h("span", null, "Retried as "), jobLink(data.newJobId, this.navigate, "a new job")];
      case "completed":
        return "Completed";
      case "failed":
        return `Failed: ${job.error ? `${job.error.type}: ${job.error.message}` : "error"}`;
      case "cancelled":
        return "Cancelled";
      default:
        return event.kind;
    }
  }

  async doCancel() {
    const job = this.store.get(this.id);
    const name = job ? job.name : this.id;
    const note = "The job stops after its current step; its progress so far is kept.";
    if (!(await this.confirm(`Cancel “${name}”?`, note, "Cancel it", "Keep it"))) return;
    this.cancel.disabled = true;
    try {
      this.store.put(await this.api.cancel(this.id));
      this.toast("Cancel requested; the job stops after its current step.");
    } catch (err) {
      this.toast(`Could not cancel: ${err.message}`, "error");
    } finally {
      this.cancel.disabled = false;
    }
  }

  async doRetry() {
    this.retry.disabled = true;
    try {
      const job = await this.api.retry(this.id);
      this.toast("Retry started.", "info", { href: `/jobs/${job.id}`, text: "View the new job" });
    } catch (err) {
      this.toast(`Could not retry: ${err.message}`, "error");
    } finally {
      this.retry.disabled = false;
    }
  }
}
