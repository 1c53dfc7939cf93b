// A pipeline run on its job page (a workflow-execution job): its steps as a graph
// (pipeline-graph.js) whose statuses follow the job's feed (each `progress` event of a run
// carries its step changes, activities/pipeline.py `record`) and are drawn at once; what
// events do not carry (outputs, inputs, times) comes from GET /api/jobs/{id}/steps, read
// again after changes (at most every RELOAD_MS). Choosing a step shows its input, output,
// error, child job, Approve and Reject for a waiting approval, and, once the run has
// ended, a rerun from it.

import { append, clear, h, icon, setText } from "./dom.js";
import { duration, fullTime, micros, number, TERMINAL } from "./format.js";
import { ICON, LABEL, STEP_STATUSES, StepGraph } from "./pipeline-graph.js";

const RELOAD_MS = 250;

const stepPath = (jobId, stepId, rest = "") => `/api/jobs/${encodeURIComponent(jobId)}/steps/${encodeURIComponent(stepId)}${rest}`;
const pretty = (value) => JSON.stringify(value, null, 2);
const isBlob = (value) => value !== null && typeof value === "object" && typeof value.$blob === "string";

export class PipelineRunPanel {
  constructor({ jobId, job, api, toast, confirm, getJob }) {
    this.jobId = jobId;
    this.api = api;
    this.toast = toast;
    this.confirm = confirm;
    this.getJob = getJob;
    this.steps = new Map(); // id -> the step as GET .../steps gives it, with live changes
    this.selected = null;
    this.chosen = false; // a person chose the step shown (else a waiting or failed one is)
    this.loading = false;
    this.during = []; // changes that arrived while the steps were being read again
    this.reloadTimer = null;
    this.note = h("p.muted.dag-note", null, "Loading the steps…");
    this.graph = new StepGraph({ onSelect: (id) => this.select(id, true) });
    this.detail = h("section.step-detail", { "aria-labelledby": "step-detail-title", hidden: true });
    this.pipelineLink = h("p.muted.dag-pipeline");
    const legend = h(
      "ul.dag-legend",
      { "aria-label": "Step status colours" },
      STEP_STATUSES.map((s) => h(`li.step-${s}`, null, icon(ICON[s]), " ", LABEL[s])),
    );
    this.el = h(
      "section.card.run-card",
      { "aria-labelledby": "run-steps-title" },
      h("div.card-head", null, h("h2", { id: "run-steps-title" }, "Pipeline steps"), this.pipelineLink),
      legend,
      this.note,
      this.graph.el,
      this.detail,
    );
    this.showPipeline(job);
  }

  async showPipeline(job) {
    const data = job.data || {};
    if (!data.workflowId) return;
    const href = `/pipelines/${encodeURIComponent(data.workflowId)}`;
    const version = data.version ? ` v${data.version}` : "";
    const link = (name) => h("a", { href, dataset: { nav: "" } }, `${name}${version}`);
    append(clear(this.pipelineLink), ["Pipeline ", link(data.workflowId)]);
    try {
      const pipeline = await this.api.send("GET", `/api/pipelines/${encodeURIComponent(data.workflowId)}`);
      append(clear(this.pipelineLink), ["Pipeline ", link(`“${pipeline.name}”`), data.rerunOf ? [" · rerun from ", h("code", null, data.fromStep)] : null]);
    } catch {
      // the id is link enough
    }
  }

  destroy() {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = null;
  }

  async load() {
    this.loading = true;
    this.during = [];
    try {
      const page = await this.api.send("GET", `/api/jobs/${encodeURIComponent(this.jobId)}/steps`);
      this.steps = new Map(page.data.map((s) => [s.stepId, s]));
      // What the feed said while the read was under way may be newer than what it read.
      for (const change of this.during) this.apply(change);
      this.draw();
    } catch (err) {
      setText(this.note, `Could not load the steps: ${err.message}`);
    } finally {
      this.loading = false;
      this.during = [];
    }
  }

  /** Read the steps again soon: at most once per RELOAD_MS however fast changes come. */
  scheduleReload() {
    if (this.reloadTimer) return;
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = null;
      this.load();
    }, RELOAD_MS);
  }

  /** A live event: this run's step changes, drawn at once; the steps are then read again
   * for what events do not carry (output, input, times). */
  event(event) {
    if (event.jobId !== this.jobId) return;
    const changes = (event.data && event.data.steps) || [];
    for (const change of changes) {
      if (this.loading) this.during.push(change);
      this.apply(change);
    }
    if (changes.length) this.refresh();
    if (changes.length || TERMINAL.has(event.kind)) this.scheduleReload();
  }

  apply(change) {
    const step = this.steps.get(change.stepId);
    if (!step) return;
    if (change.status) step.status = change.status;
    for (const key of ["reason", "childJobId", "error"]) if (change[key] !== undefined) step[key] = change[key];
  }

  /** Build the graph when its steps change, else only restyle nodes and edges. */
  draw() {
    const ids = [...this.steps.keys()].join("\n");
    if (!this.steps.size) {
      const job = this.getJob();
      setText(this.note, job && TERMINAL.has(job.status) ? "This run recorded no steps." : "The run is starting: its steps appear when it has loaded its pipeline.");
      this.graph.el.hidden = true;
      return;
    }
    this.note.hidden = true;
    this.graph.el.hidden = false;
    if (ids !== this.drawn) {
      this.drawn = ids;
      this.graph.draw([...this.steps.values()]);
      if (this.selected) this.graph.select(this.selected);
    }
    this.refresh();
  }

  refresh() {
    this.graph.update(this.steps);
    if (!this.chosen) {
      const wanting = [...this.steps.values()].find((s) => s.status === "waiting") || [...this.steps.values()].find((s) => s.status === "failed");
      if (wanting && wanting.stepId !== this.selected) this.select(wanting.stepId, false);
    }
    if (this.selected) this.renderDetail();
  }

  select(id, chosen) {
    if (chosen) this.chosen = true;
    this.selected = id;
    this.graph.select(id);
    this.renderDetail();
  }

  renderDetail() {
    const step = this.steps.get(this.selected);
    if (!step) {
      this.detail.hidden = true;
      return;
    }
    // Rebuilt only when what it shows changed: a note being typed is kept.
    const key = JSON.stringify([step, this.jobEnded()]);
    if (key === this.shownKey && !this.detail.hidden) return;
    this.shownKey = key;
    this.detail.hidden = false;
    const fact = (label, value) => (value === null || value === undefined || value === "" ? null : [h("dt", null, label), h("dd", null, value)]);
    const ran = step.startedAt ? duration(((step.finishedAt ? micros(step.finishedAt) : Date.now() * 1000) - micros(step.startedAt)) / 1e6) : null;
    append(clear(this.detail), [
      h(
        "div.step-detail-head",
        null,
        h("h3", { id: "step-detail-title" }, "Step ", h("code", null, step.stepId), step.name ? ` · ${step.name}` : ""),
        h(`span.step-status.step-${step.status}`, null, icon(ICON[step.status] || "pending", step.status === "running" ? "icon spin" : "icon"), " ", LABEL[step.status] || step.status),
      ),
      h(
        "dl.facts",
        null,
        fact("Kind", step.kind),
        fact("After", (step.dependsOn || []).length ? step.dependsOn.join(", ") : "nothing: it starts first"),
        fact(step.status === "skipped" ? "Skipped because" : "Reason", step.reason),
        fact("Attempts", step.attempts ? String(step.attempts) : null),
        fact("Started", step.startedAt ? fullTime(step.startedAt) : null),
        fact("Finished", step.finishedAt ? fullTime(step.finishedAt) : null),
        fact("Took", ran),
        fact("Child job", step.childJobId ? h("a", { href: `/jobs/${encodeURIComponent(step.childJobId)}`, dataset: { nav: "" } }, "the child job") : null),
      ),
      step.status === "waiting" && step.kind === "approval" ? this.approvalBox(step) : null,
      step.error ? this.errorBox(step.error) : null,
      h("h4", null, "Input", step.input && !step.inputResolved ? h("span.muted.step-note", null, " (as written in the spec: references are resolved when it runs)") : null),
      step.input ? h("pre.json", { tabIndex: 0, "aria-label": `Input of ${step.stepId}` }, pretty(step.input)) : h("p.muted", null, "–"),
      h("h4", null, "Output"),
      this.outputBox(step),
      step.details ? [h("h4", null, "Details"), h("pre.json", { tabIndex: 0, "aria-label": `Details of ${step.stepId}` }, pretty(step.details))] : null,
      this.jobEnded() ? h("div.form-actions", null, h("button.btn", { type: "button", onclick: () => this.rerun(step.stepId) }, "Rerun from this step")) : null,
    ]);
  }

  jobEnded() {
    const job = this.getJob();
    return Boolean(job && TERMINAL.has(job.status));
  }

  errorBox(error) {
    return h(
      "div.error-box.step-error",
      { role: "group", "aria-label": "Step error" },
      h("h4", null, icon("failed"), " Error"),
      h("p", null, h("code.error-type", null, error.type || "error"), " ", h("span.error-message", null, error.message || "")),
      error.details != null ? h("pre.json", { tabIndex: 0 }, pretty(error.details)) : null,
    );
  }

  outputBox(step) {
    if (step.status !== "completed" && step.output == null) return h("p.muted", null, step.status === "failed" ? "None: it failed." : "None yet.");
    if (!isBlob(step.output)) return h("pre.json", { tabIndex: 0, "aria-label": `Output of ${step.stepId}` }, pretty(step.output));
    const box = h("div.step-blob");
    const show = h("button.btn.btn-small", {
      type: "button",
      onclick: async () => {
        show.disabled = true;
        try {
          const full = await this.api.send("GET", stepPath(this.jobId, step.stepId, "/output"));
          box.replaceChildren(h("pre.json", { tabIndex: 0, "aria-label": `Output of ${step.stepId}` }, pretty(full)));
        } catch (err) {
          this.toast(`Could not read the output: ${err.message}`, "error");
          show.disabled = false;
        }
      },
    }, "Show the full output");
    box.append(h("p.muted", null, `A large output (${number(step.output.bytes)} bytes), kept in file storage. `), show);
    return box;
  }

  approvalBox(step) {
    const note = h("input", { id: "step-note", type: "text", maxLength: 2000, autocomplete: "off" });
    const decide = async (approve, button) => {
      if (!approve && !(await this.confirm(`Reject “${step.stepId}”?`, "The step fails, and with it the run unless the step continues on error.", "Reject it", "Keep waiting"))) return;
      button.disabled = true;
      try {
        const body = note.value.trim() ? { note: note.value.trim() } : undefined;
        await this.api.send("POST", stepPath(this.jobId, step.stepId, approve ? "/approve" : "/reject"), { body });
        this.toast(approve ? `Approved ${step.stepId}: the run goes on.` : `Rejected ${step.stepId}.`);
      } catch (err) {
        this.toast(`Could not ${approve ? "approve" : "reject"}: ${err.message}`, "error");
        button.disabled = false;
      }
    };
    const approve = h("button.btn.btn-primary", { type: "button", onclick: () => decide(true, approve) }, "Approve");
    const reject = h("button.btn.btn-danger", { type: "button", onclick: () => decide(false, reject) }, "Reject");
    const message = step.input && typeof step.input.message === "string" ? step.input.message : null;
    return h(
      "div.approval-box",
      { role: "group", "aria-label": `Decide ${step.stepId}` },
      h("p.approval-message", null, message || "This step waits for a person to approve or reject it."),
      h("div.field", null, h("label", { htmlFor: "step-note" }, "Note (optional)"), note),
      h("div.form-actions", null, approve, reject),
    );
  }

  async rerun(stepId) {
    try {
      const job = await this.api.send("POST", `/api/jobs/${encodeURIComponent(this.jobId)}/rerun`, { body: { fromStep: stepId } });
      this.toast(`A new run started from ${stepId}.`, "info", { href: `/jobs/${encodeURIComponent(job.id)}`, text: "View the new run" });
    } catch (err) {
      this.toast(`Could not rerun: ${err.message}`, "error");
    }
  }
}
