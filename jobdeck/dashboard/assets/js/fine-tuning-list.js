// /fine-tuning: the form that starts a fine-tune (fine-tuning-form.js), the fine-tunes and the
// models they made, both refreshed when a fine-tuning job moves.

import { clear, h, setText } from "./dom.js";
import { fullTime, shortTime, TERMINAL } from "./format.js";
import { StartForm } from "./fine-tuning-form.js";
import { datasetHref, fineTuneHref, jobHref, link, modelHref, phaseChip } from "./fine-tuning-shared.js";

const FINE_TUNE_JOBS = new Set(["fine-tuning", "model-training"]);

const created = (iso) => h("td", null, h("time", { dateTime: iso, title: fullTime(iso) }, shortTime(iso)));

function table(caption, headings, body, empty, cls) {
  return h(
    "div.table-wrap",
    null,
    h(
      `table.datasets.${cls}`,
      null,
      h("caption.visually-hidden", null, caption),
      h("thead", null, h("tr", null, headings.map((t) => h("th", { scope: "col" }, t)))),
      body,
    ),
    empty,
  );
}

export class FineTuningView {
  constructor({ api, toast, navigate }) {
    this.api = api;
    this.reloadTimer = null;
    this.form = new StartForm({ api, toast, navigate });
    this.fineTunes = h("tbody");
    this.fineTunesEmpty = h("p.empty", { hidden: true }, "No fine-tunes yet. Start one above.");
    this.models = h("tbody");
    this.modelsEmpty = h("p.empty", { hidden: true }, "No models yet. A fine-tune that succeeds adds its model here.");
    this.error = h("p.notice.notice-error", { role: "alert", hidden: true });
    this.el = h(
      "div.page.page-fine-tuning",
      null,
      h("div.page-head", null, h("h1", null, "Fine-tuning")),
      h("section.card", null, this.form.el),
      this.error,
      h(
        "section.ft-section",
        { "aria-labelledby": "ft-list-title" },
        h("h2", { id: "ft-list-title" }, "Fine-tunes"),
        table("Fine-tunes, newest first", ["Name", "Provider", "Base model", "Status", "Dataset", "Model", "Created"], this.fineTunes, this.fineTunesEmpty, "fine-tunes"),
      ),
      h(
        "section.ft-section",
        { "aria-labelledby": "models-title" },
        h("h2", { id: "models-title" }, "Models"),
        table("Models, newest first", ["Name", "Provider", "Base model", "Dataset", "Made by", "Created"], this.models, this.modelsEmpty, "models"),
      ),
    );
  }

  start() {
    this.form.load();
    return this.loadLists();
  }

  destroy() {
    clearTimeout(this.reloadTimer);
  }

  async loadLists() {
    try {
      const [fineTunes, models] = await Promise.all([this.api.fineTunes(), this.api.models()]);
      this.error.hidden = true;
      this.renderFineTunes(fineTunes.data);
      this.renderModels(models.data);
    } catch (err) {
      this.error.hidden = false;
      setText(this.error, `Could not load fine-tunes and models: ${err.message}`);
    }
  }

  renderFineTunes(records) {
    clear(this.fineTunes);
    for (const r of records)
      this.fineTunes.append(
        h(
          "tr",
          { dataset: { id: r.id } },
          h("td", null, link(fineTuneHref(r.id), r.name)),
          h("td", null, r.providerLabel || r.provider),
          h("td", null, r.baseModel),
          h("td", null, phaseChip(r.status)),
          h("td", null, link(datasetHref(r.datasetId), "the dataset")),
          h("td", null, r.modelId ? link(modelHref(r.modelId), r.fineTunedModel || "the model") : "–"),
          created(r.createdAt),
        ),
      );
    this.fineTunesEmpty.hidden = records.length > 0;
  }

  renderModels(models) {
    clear(this.models);
    for (const m of models)
      this.models.append(
        h(
          "tr",
          { dataset: { id: m.id } },
          h("td", null, link(modelHref(m.id), m.name)),
          h("td", null, m.providerLabel || m.provider),
          h("td", null, m.baseModel),
          h("td", null, m.datasetId ? link(datasetHref(m.datasetId), "the dataset") : "–"),
          h("td", null, m.jobId ? (m.details && m.details.adapterOf ? link(jobHref(m.jobId), "the publish job") : link(fineTuneHref(m.jobId), "the fine-tune")) : "–"),
          created(m.createdAt),
        ),
      );
    this.modelsEmpty.hidden = models.length > 0;
  }

  /** Feed events: a fine-tuning job that moves changes the lists. */
  event(event) {
    const job = event.data && event.data.job;
    if (!job || !FINE_TUNE_JOBS.has(job.type)) return;
    if (event.kind !== "progress" && event.kind !== "created" && !TERMINAL.has(event.kind)) return;
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.loadLists(), 300);
  }
}
