// /fine-tuning/<id>: one fine-tune, live: its phase, step progress (rate, ETA), provider
// job, loss curve (loss-chart.js), and for a training on jobdeck's workers its kept
// checkpoints and its model (model-panel.js: the adapter's files, publishing to Ollama).

import { append, clear, h, setText } from "./dom.js";
import { eta, fullTime, number, rate, TERMINAL } from "./format.js";
import { LossChart } from "./loss-chart.js";
import { ModelPanel } from "./model-panel.js";
import { datasetHref, fact, jobHref, link, modelHref, optionsText, phaseChip, takesOption } from "./fine-tuning-shared.js";
import { ProgressView, statusBadge } from "./table.js";

export class FineTuneView {
  constructor({ id, api, store, toast }) {
    this.id = id;
    this.api = api;
    this.store = store;
    this.toast = toast;
    this.pending = [];
    this.loaded = false;
    this.refreshTimer = null;
    this.refreshes = 0;
    this.modelPanel = null;
    this.title = h("h1.detail-title", { tabIndex: -1 }, "Loading fine-tune…");
    this.el = h("div.page.page-fine-tune", { "aria-busy": "true" }, h("a.back", { href: "/fine-tuning", dataset: { nav: "" } }, "← All fine-tunes"), this.title);
    this.unsubscribe = store.subscribe((changed) => changed.has(this.id) && this.showJob());
  }

  /** The jobs this page follows, which the store keeps: the fine-tune's background job
   * (it has the fine-tune's id) and its model's publish job. */
  jobIds() {
    return [this.id, this.modelPanel && this.modelPanel.publishJob];
  }

  destroy() {
    this.unsubscribe();
    clearTimeout(this.refreshTimer);
    if (this.modelPanel) this.modelPanel.destroy();
  }

  async start() {
    try {
      const [record, job] = await Promise.all([this.api.fineTune(this.id), this.api.job(this.id)]);
      this.record = record;
      this.store.put(job);
    } catch (err) {
      this.el.removeAttribute("aria-busy");
      setText(this.title, err.status === 404 ? "Fine-tune not found" : "Could not load the fine-tune");
      this.el.append(h("p.notice.notice-error", { role: "alert" }, err.message));
      return;
    }
    this.build();
    this.chart.add(this.record.metrics);
    this.loaded = true;
    for (const event of this.pending) this.event(event);
    this.pending = [];
    this.fill();
    this.showJob();
    this.el.removeAttribute("aria-busy");
  }

  build() {
    const r = this.record;
    // A provider that takes `training` trains on jobdeck's workers: checkpoints and a model
    // card here, and no provider job.
    this.local = takesOption(r.providerOptions, "training");
    setText(this.title, r.name);
    document.title = `${r.name} · jobdeck`;
    this.badge = h("span.detail-badge");
    this.phase = h("dd");
    this.stage = h("dd");
    this.rate = h("dd");
    this.eta = h("dd");
    this.progress = new ProgressView(`Training progress of ${r.name}`);
    this.message = h("p.progress-message");
    this.facts = h("dl.facts");
    this.links = h("dl.facts");
    this.errorBox = h("section.error-box", { hidden: true, "aria-labelledby": "ft-error-title" });
    this.chart = new LossChart();
    this.checkpoints = h("div.checkpoints");
    if (this.local) this.modelPanel = new ModelPanel({ api: this.api, store: this.store, toast: this.toast, withName: true });
    this.modelCard = this.local
      ? h("section.card", { "aria-labelledby": "ft-model-title", hidden: true }, h("h2", { id: "ft-model-title" }, "Model"), this.modelPanel.el)
      : null;
    const term = (label, dd) => [h("dt", null, label), dd];
    append(this.el, [
      h("div.detail-head", null, h("div.detail-meta", null, this.badge, h("code.job-id", null, r.id))),
      h(
        "section.card",
        { "aria-labelledby": "ft-progress-title" },
        h("h2", { id: "ft-progress-title" }, "Progress"),
        this.progress.el,
        this.message,
        h("dl.facts.facts-inline", null, term("Phase", this.phase), term("Stage", this.stage), term("Rate", this.rate), term("ETA", this.eta)),
      ),
      this.errorBox,
      h("section.card", { "aria-labelledby": "ft-loss-title" }, h("h2", { id: "ft-loss-title" }, "Loss"), this.chart.el),
      this.modelCard,
      this.local
        ? h("section.card", { "aria-labelledby": "ft-checkpoints-title" }, h("h2", { id: "ft-checkpoints-title" }, "Checkpoints"), this.checkpoints)
        : null,
      h(
        "div.detail-grid",
        null,
        h("section.card", { "aria-labelledby": "ft-facts-title" }, h("h2", { id: "ft-facts-title" }, "Details"), this.facts),
        h("section.card", { "aria-labelledby": "ft-links-title" }, h("h2", { id: "ft-links-title" }, "Lineage"), this.links),
      ),
    ]);
  }

  fill() {
    const r = this.record;
    clear(this.phase).append(phaseChip(r.status));
    const hp = optionsText(r.hyperparameters); // unset ones (null) are left out
    append(clear(this.facts), [
      fact("Status", r.status || "–"),
      fact("Provider", r.providerLabel || r.provider),
      this.local ? null : fact("Provider status", r.providerStatus || "–"),
      this.local ? null : fact("Provider job", r.providerJobId ? h("code.job-id", null, r.providerJobId) : "not created yet"),
      fact("Base model", r.baseModel),
      this.local ? fact("Training", optionsText(r.hyperparameters) || "defaults") : fact("Hyperparameters", hp || "auto"),
      r.suffix ? fact("Suffix", r.suffix) : null,
      fact("Trained tokens", r.trainedTokens == null ? "–" : number(r.trainedTokens)),
      fact("Fine-tuned model", r.fineTunedModel ? h("code.job-id", null, r.fineTunedModel) : "not yet"),
      fact("Created", fullTime(r.createdAt)),
      fact("Finished", fullTime(r.finishedAt)),
    ]);
    append(clear(this.links), [
      fact("Dataset", link(datasetHref(r.datasetId), "the training dataset")),
      r.validationDatasetId ? fact("Validation dataset", link(datasetHref(r.validationDatasetId), "the validation dataset")) : null,
      fact("Background job", link(jobHref(r.jobId), "the background job")),
      fact("Model", r.modelId ? link(modelHref(r.modelId), "the model") : "not yet"),
    ]);
    const error = r.error;
    this.errorBox.hidden = !error;
    if (error)
      append(clear(this.errorBox), [
        h("h2", { id: "ft-error-title" }, "Error"),
        h("p.error-message", null, [error.type, error.message || error.code].filter(Boolean).join(": ") || JSON.stringify(error)),
      ]);
    if (this.local) {
      this.renderCheckpoints();
      this.modelCard.hidden = !r.modelId;
      if (r.modelId && this.modelPanel.modelId !== r.modelId) this.modelPanel.load(r.modelId);
    }
  }

  renderCheckpoints() {
    const kept = this.record.checkpoints || [];
    const every = (this.record.hyperparameters || {}).checkpointEvery;
    const key = kept.map((c) => `${c.step}:${c.path}`).join("|");
    if (key === this.shownCheckpoints) return;
    this.shownCheckpoints = key;
    append(clear(this.checkpoints), [
      kept.length
        ? h(
            "ol.checkpoint-list",
            null,
            kept.map((c) => h("li", { dataset: { step: String(c.step) } }, h("span.checkpoint-step", null, `Step ${number(c.step)}`), h("code.job-id", null, c.path))),
          )
        : h("p.muted", null, `None kept yet${every ? `: one is written every ${number(every)} steps` : ""}.`),
      kept.length ? h("p.muted.hint", null, "The newest checkpoints are kept; a training that is interrupted resumes from the last one.") : null,
    ]);
  }

  showJob() {
    const job = this.store.get(this.id);
    if (!job || !this.progress) return;
    if (job.status !== this.shownStatus) {
      clear(this.badge).append(statusBadge(job.status));
      this.shownStatus = job.status;
    }
    this.progress.update(job);
    const p = job.progress || {};
    setText(this.stage, p.stage || "–");
    setText(this.rate, job.status === "active" ? rate(p) : "–");
    setText(this.eta, job.status === "active" ? eta(p) : "–");
    setText(this.message, p.message || "");
  }

  /** Feed events: this fine-tune's metrics go on the curve; its other events refresh it;
   * the model's publish job goes to the model panel. */
  event(event) {
    if (this.modelPanel) this.modelPanel.event(event);
    if (event.jobId !== this.id) return;
    if (!this.loaded) {
      this.pending.push(event);
      return;
    }
    if (event.kind === "metric" && event.data && Array.isArray(event.data.metrics)) {
      this.chart.add(event.data.metrics);
      return;
    }
    // At most one refresh in flight per 400 ms: a stream of progress events (a step every
    // few milliseconds) neither floods the API nor postpones the refresh forever.
    const end = TERMINAL.has(event.kind);
    if (this.refreshTimer && !end) return;
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      this.refresh();
    }, end ? 50 : 400);
  }

  async refresh() {
    const mine = ++this.refreshes;
    try {
      const record = await this.api.fineTune(this.id);
      if (mine !== this.refreshes) return; // a newer answer is on its way
      this.record = record;
      this.chart.add(this.record.metrics);
      this.fill();
      this.showJob();
    } catch {
      // Shown as it was; the next event tries again.
    }
  }
}
