// Fine-tuning: the page that starts a fine-tune (a dataset with its validation report and
// cost estimate, a provider, a base model, hyperparameters) and lists the fine-tunes and
// the models they made; one fine-tune's page (/fine-tuning/<id>) with its stage, step
// progress, provider job and a live loss curve (inline SVG: the stored metrics first, then
// the feed's `metric` events); and one model's page (/fine-tuning/models/<id>) with its
// lineage.

import { append, clear, h, setText } from "./dom.js";
import { fullTime, number, shortTime, TERMINAL } from "./format.js";
import { ProgressView, statusBadge } from "./table.js";

const SVG = "http://www.w3.org/2000/svg";
const HYPERPARAMETERS = [
  ["nEpochs", "Epochs", "1–50"],
  ["batchSize", "Batch size", "1–256"],
  ["learningRateMultiplier", "Learning rate multiplier", "e.g. 1.8"],
];

const link = (href, label) => h("a", { href, dataset: { nav: "" } }, label);
const fineTuneHref = (id) => `/fine-tuning/${encodeURIComponent(id)}`;
const modelHref = (id) => `/fine-tuning/models/${encodeURIComponent(id)}`;
const datasetHref = (id) => `/datasets/${encodeURIComponent(id)}`;
const jobHref = (id) => `/jobs/${encodeURIComponent(id)}`;

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
  for (const child of children.flat()) if (child != null) el.append(child);
  return el;
}

function phaseChip(phase) {
  return h(`span.phase.phase-${phase || "none"}`, null, phase || "–");
}

function reportSummary(report) {
  if (!report) return null;
  const problems = report.errors.reduce((sum, e) => sum + e.count, 0);
  const b = report.billing;
  return [
    h(
      `p.report-verdict.validation-${report.valid ? "ok" : "bad"}`,
      null,
      report.valid
        ? `Valid: ${number(report.examples)} examples for ${report.model}, ${number(report.tokens.total)} tokens.`
        : `${number(problems)} problem${problems === 1 ? "" : "s"} in ${number(report.examples)} examples for ${report.model}.`,
    ),
    b
      ? h(
          "p.cost",
          null,
          `Estimated cost $${b.estimatedCostUsd.toFixed(2)} for ${b.epochs} epoch${b.epochs === 1 ? "" : "s"}${b.epochsDefaulted ? " (default)" : ""}, ${number(b.billedTokens)} billed tokens.`,
        )
      : null,
  ];
}

/** /fine-tuning: the form, the fine-tunes and the models. */
export class FineTuningView {
  constructor({ api, toast, navigate }) {
    this.api = api;
    this.toast = toast;
    this.navigate = navigate;
    this.datasets = [];
    this.providers = [];
    this.reloadTimer = null;

    this.name = h("input", { id: "ft-name", type: "text", name: "name", required: true, autocomplete: "off", maxLength: 200 });
    this.dataset = h("select", { id: "ft-dataset", name: "datasetId", required: true, onchange: () => this.showDataset() });
    this.validation = h("select", { id: "ft-validation", name: "validationDatasetId" });
    this.datasetInfo = h("div.ft-dataset-info", { id: "ft-dataset-info", "aria-live": "polite" });
    this.providerList = h("div.ft-providers");
    this.baseModel = h("select", { id: "ft-base", name: "baseModel", required: true });
    this.hyper = {};
    const hyperFields = HYPERPARAMETERS.map(([key, label, hint]) => {
      const input = h("input", { id: `ft-${key}`, type: "text", inputMode: "decimal", autocomplete: "off", placeholder: "auto", "aria-describedby": `ft-${key}-hint` });
      this.hyper[key] = input;
      return h("div.field", null, h("label", { htmlFor: `ft-${key}` }, label), input, h("span.hint", { id: `ft-${key}-hint` }, `auto or ${hint}`));
    });
    this.suffix = h("input", { id: "ft-suffix", type: "text", name: "suffix", autocomplete: "off", maxLength: 40, placeholder: "letters, digits, - and _" });
    this.submit = h("button.btn.btn-primary", { type: "submit" }, "Start fine-tune");
    this.formError = h("p.notice.notice-error", { role: "alert", id: "ft-error", hidden: true });
    const form = h(
      "form.ft-form",
      { "aria-labelledby": "ft-form-title", "aria-describedby": "ft-error", onsubmit: (e) => this.startFineTune(e), noValidate: false },
      h("h2", { id: "ft-form-title" }, "Start a fine-tune"),
      h(
        "div.upload-fields",
        null,
        h("div.field", null, h("label", { htmlFor: "ft-name" }, "Name"), this.name),
        h("div.field", null, h("label", { htmlFor: "ft-dataset" }, "Training dataset"), this.dataset),
        h("div.field", null, h("label", { htmlFor: "ft-validation" }, "Validation dataset (optional)"), this.validation),
      ),
      this.datasetInfo,
      h("fieldset.ft-fieldset", null, h("legend", null, "Provider"), this.providerList),
      h(
        "div.upload-fields",
        null,
        h("div.field", null, h("label", { htmlFor: "ft-base" }, "Base model"), this.baseModel),
        h("div.field", null, h("label", { htmlFor: "ft-suffix" }, "Suffix (optional)"), this.suffix),
      ),
      h("fieldset.ft-fieldset", null, h("legend", null, "Hyperparameters"), h("div.upload-fields", null, hyperFields)),
      this.formError,
      h("div.ft-actions", null, this.submit),
    );

    this.fineTunes = h("tbody");
    this.fineTunesEmpty = h("p.empty", { hidden: true }, "No fine-tunes yet. Start one above.");
    this.models = h("tbody");
    this.modelsEmpty = h("p.empty", { hidden: true }, "No models yet. A fine-tune that succeeds adds its model here.");
    this.error = h("p.notice.notice-error", { role: "alert", hidden: true });
    const table = (caption, headings, body, empty, cls) =>
      h(
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
    this.el = h(
      "div.page.page-fine-tuning",
      null,
      h("div.page-head", null, h("h1", null, "Fine-tuning")),
      h("section.card", null, form),
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
    this.loadForm();
    return this.loadLists();
  }

  destroy() {
    clearTimeout(this.reloadTimer);
  }

  async loadForm() {
    try {
      const [datasets, providers] = await Promise.all([this.api.datasets({ limit: 100 }), this.api.providers()]);
      this.datasets = datasets.data;
      this.providers = providers;
    } catch (err) {
      this.showFormError(`Could not load datasets and providers: ${err.message}`);
      return;
    }
    const chosen = this.dataset.value;
    append(clear(this.dataset), [
      h("option", { value: "" }, this.datasets.length ? "Choose a dataset…" : "No datasets: upload one first"),
      this.datasets.map((d) => h("option", { value: d.id }, `${d.name} (${d.format})`)),
    ]);
    append(clear(this.validation), [h("option", { value: "" }, "None"), this.datasets.map((d) => h("option", { value: d.id }, d.name))]);
    if (chosen) this.dataset.value = chosen;
    this.showDataset();
    clear(this.providerList);
    let first = null;
    for (const p of this.providers) {
      const id = `ft-provider-${p.name}`;
      const radio = h("input", { type: "radio", name: "provider", id, value: p.name, disabled: !p.configured, "aria-describedby": `${id}-desc`, onchange: () => this.showModels() });
      if (p.configured && !first) first = radio;
      this.providerList.append(
        h(
          "div.ft-provider",
          null,
          radio,
          h(
            "div",
            null,
            h("label", { htmlFor: id }, p.name === "openai" ? "OpenAI" : p.name === "ollama" ? "Ollama" : p.name, p.configured ? "" : " (not configured)"),
            h("p.muted.ft-provider-desc", { id: `${id}-desc` }, p.description),
          ),
        ),
      );
    }
    if (first) first.checked = true;
    this.showModels();
  }

  provider() {
    const checked = this.providerList.querySelector("input:checked");
    return checked ? this.providers.find((p) => p.name === checked.value) : null;
  }

  showModels() {
    const p = this.provider();
    const models = p ? p.baseModels : [];
    append(clear(this.baseModel), [
      models.length ? null : h("option", { value: "" }, p ? "No base models available" : "Choose a provider first"),
      models.map((m) => h("option", { value: m }, m)),
    ]);
  }

  showDataset() {
    const d = this.datasets.find((x) => x.id === this.dataset.value);
    clear(this.datasetInfo);
    if (!d) return;
    if (!this.name.value) this.name.value = d.name;
    const summary = reportSummary(d.validation);
    append(this.datasetInfo, [
      summary || h("p.muted", null, d.format === "jsonl" ? "Not validated yet: " : "This dataset is not chat JSONL; convert it first, then validate it: ", link(datasetHref(d.id), "validate it on its page"), "."),
      summary ? h("p.muted", null, link(datasetHref(d.id), "The full validation report")) : null,
    ]);
  }

  showFormError(text) {
    this.formError.hidden = !text;
    setText(this.formError, text || "");
  }

  body() {
    const p = this.provider();
    const body = {
      name: this.name.value.trim(),
      datasetId: this.dataset.value,
      baseModel: this.baseModel.value,
      provider: p ? p.name : "",
    };
    if (this.validation.value) body.validationDatasetId = this.validation.value;
    if (this.suffix.value.trim()) body.suffix = this.suffix.value.trim();
    const hyper = {};
    for (const [key] of HYPERPARAMETERS) {
      const raw = this.hyper[key].value.trim();
      if (!raw) continue;
      // A number is sent as one; "auto" and anything else as text (the API says what's wrong).
      hyper[key] = raw !== "" && !Number.isNaN(Number(raw)) ? Number(raw) : raw;
    }
    if (Object.keys(hyper).length) body.hyperparameters = hyper;
    return body;
  }

  async startFineTune(e) {
    e.preventDefault();
    this.showFormError(null);
    const body = this.body();
    if (!body.provider) return this.showFormError("Choose a configured provider.");
    if (!body.datasetId) return this.showFormError("Choose a training dataset.");
    this.submit.disabled = true;
    try {
      const record = await this.api.startFineTune(body);
      this.toast(`Started the fine-tune “${record.name}”.`);
      this.navigate(fineTuneHref(record.id));
    } catch (err) {
      this.showFormError(`Could not start the fine-tune: ${err.message}`);
    } finally {
      this.submit.disabled = false;
    }
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
          h("td", null, r.provider),
          h("td", null, r.baseModel),
          h("td", null, phaseChip(r.status)),
          h("td", null, link(datasetHref(r.datasetId), "the dataset")),
          h("td", null, r.modelId ? link(modelHref(r.modelId), r.fineTunedModel || "the model") : "–"),
          h("td", null, h("time", { dateTime: r.createdAt, title: fullTime(r.createdAt) }, shortTime(r.createdAt))),
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
          h("td", null, m.provider),
          h("td", null, m.baseModel),
          h("td", null, m.datasetId ? link(datasetHref(m.datasetId), "the dataset") : "–"),
          h("td", null, m.jobId ? link(fineTuneHref(m.jobId), "the fine-tune") : "–"),
          h("td", null, h("time", { dateTime: m.createdAt, title: fullTime(m.createdAt) }, shortTime(m.createdAt))),
        ),
      );
    this.modelsEmpty.hidden = models.length > 0;
  }

  /** Feed events: a fine-tuning job that moves changes the lists. */
  event(event) {
    const job = event.data && event.data.job;
    if (!job || job.type !== "fine-tuning") return;
    if (event.kind !== "progress" && event.kind !== "created" && !TERMINAL.has(event.kind)) return;
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.loadLists(), 300);
  }
}

/** The loss curve: train loss and, when reported, validation loss, as inline SVG. */
export class LossChart {
  constructor() {
    this.points = new Map(); // step -> {totalSteps, values}
    this.width = 640;
    this.height = 240;
    this.pad = { left: 48, right: 12, top: 12, bottom: 30 };
    this.titleId = `loss-title-${Math.random().toString(36).slice(2)}`;
    this.descId = `${this.titleId}-desc`;
    this.desc = svg("desc", { id: this.descId });
    this.plot = svg("g");
    this.svg = svg(
      "svg",
      { class: "loss-chart", viewBox: `0 0 ${this.width} ${this.height}`, role: "img", "aria-labelledby": this.titleId, "aria-describedby": this.descId, preserveAspectRatio: "none" },
      svg("title", { id: this.titleId }, "Loss curve"),
      this.desc,
      this.plot,
    );
    this.latest = h("p.loss-latest", { "aria-live": "off" });
    this.empty = h("p.muted", null, "No metrics yet: the curve starts with the first training steps.");
    this.legend = h(
      "ul.loss-legend",
      null,
      h("li.loss-key-train", null, h("span.swatch", { "aria-hidden": "true" }), "Train loss"),
      h("li.loss-key-valid", { hidden: true }, h("span.swatch", { "aria-hidden": "true" }), "Validation loss"),
    );
    this.el = h("div.loss", null, this.empty, h("div.loss-frame", null, this.svg), this.legend, this.latest);
  }

  add(points) {
    for (const p of points) {
      if (typeof p.step !== "number") continue;
      const values = p.values || Object.fromEntries(Object.entries(p).filter(([k]) => k !== "step" && k !== "totalSteps"));
      this.points.set(p.step, { totalSteps: p.totalSteps ?? null, values });
    }
    this.draw();
  }

  draw() {
    const steps = [...this.points.keys()].sort((a, b) => a - b);
    this.empty.hidden = steps.length > 0;
    clear(this.plot);
    if (!steps.length) return;
    const { width, height, pad } = this;
    const series = (key) => steps.filter((s) => typeof this.points.get(s).values[key] === "number").map((s) => [s, this.points.get(s).values[key]]);
    const train = series("trainLoss");
    const valid = series("validLoss");
    const all = [...train, ...valid].map(([, v]) => v);
    const totals = steps.map((s) => this.points.get(s).totalSteps).filter((t) => typeof t === "number");
    const maxStep = Math.max(steps[steps.length - 1], ...totals, 1);
    let lo = all.length ? Math.min(...all) : 0;
    let hi = all.length ? Math.max(...all) : 1;
    if (hi - lo < 1e-9) {
      hi += 0.5;
      lo = Math.max(0, lo - 0.5);
    }
    const x = (s) => pad.left + ((width - pad.left - pad.right) * s) / maxStep;
    const y = (v) => pad.top + (height - pad.top - pad.bottom) * (1 - (v - lo) / (hi - lo));
    const fmt = (v) => (Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(3));
    const grid = [lo, (lo + hi) / 2, hi].map((v) => [
      svg("line", { class: "loss-grid", x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v) }),
      svg("text", { class: "loss-axis", x: pad.left - 6, y: y(v) + 4, "text-anchor": "end" }, fmt(v)),
    ]);
    const line = (points, cls) =>
      points.length ? svg("polyline", { class: cls, points: points.map(([s, v]) => `${x(s).toFixed(1)},${y(v).toFixed(1)}`).join(" ") }) : null;
    this.plot.append(
      ...grid.flat(),
      svg("text", { class: "loss-axis", x: pad.left, y: height - 8, "text-anchor": "start" }, "step 0"),
      svg("text", { class: "loss-axis", x: width - pad.right, y: height - 8, "text-anchor": "end" }, `step ${maxStep}`),
    );
    for (const el of [line(train, "loss-train"), line(valid, "loss-valid")]) if (el) this.plot.append(el);
    this.legend.querySelector(".loss-key-valid").hidden = !valid.length;
    const last = this.points.get(steps[steps.length - 1]);
    const parts = [`Step ${number(steps[steps.length - 1])}${last.totalSteps ? ` of ${number(last.totalSteps)}` : ""}`];
    if (train.length) parts.push(`train loss ${fmt(train[train.length - 1][1])}`);
    if (valid.length) parts.push(`validation loss ${fmt(valid[valid.length - 1][1])}`);
    setText(this.latest, parts.join(", "));
    this.desc.textContent = train.length
      ? `Train loss from ${fmt(train[0][1])} at step ${train[0][0]} to ${fmt(train[train.length - 1][1])} at step ${train[train.length - 1][0]}.${valid.length ? ` Validation loss, latest ${fmt(valid[valid.length - 1][1])}.` : ""}`
      : "No loss reported yet.";
  }
}

/** /fine-tuning/<id>: one fine-tune, live. */
export class FineTuneView {
  constructor({ id, api, store, toast }) {
    this.id = id;
    this.jobId = id; // the fine-tune's background job has its id: the store keeps it
    this.api = api;
    this.store = store;
    this.toast = toast;
    this.pending = [];
    this.loaded = false;
    this.refreshTimer = null;
    this.title = h("h1.detail-title", { tabIndex: -1 }, "Loading fine-tune…");
    this.el = h("div.page.page-fine-tune", { "aria-busy": "true" }, h("a.back", { href: "/fine-tuning", dataset: { nav: "" } }, "← All fine-tunes"), this.title);
    this.unsubscribe = store.subscribe((changed) => changed.has(this.id) && this.showJob());
  }

  destroy() {
    this.unsubscribe();
    clearTimeout(this.refreshTimer);
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
    setText(this.title, r.name);
    document.title = `${r.name} · jobdeck`;
    this.badge = h("span.detail-badge");
    this.phase = h("dd");
    this.progress = new ProgressView(`Training progress of ${r.name}`);
    this.message = h("p.progress-message");
    this.facts = h("dl.facts");
    this.links = h("dl.facts");
    this.errorBox = h("section.error-box", { hidden: true, "aria-labelledby": "ft-error-title" });
    this.chart = new LossChart();
    this.el.append(
      h("div.detail-head", null, h("div.detail-meta", null, this.badge, h("code.job-id", null, r.id))),
      h(
        "section.card",
        { "aria-labelledby": "ft-progress-title" },
        h("h2", { id: "ft-progress-title" }, "Progress"),
        this.progress.el,
        this.message,
        h("dl.facts.facts-inline", null, h("dt", null, "Stage"), this.phase),
      ),
      this.errorBox,
      h("section.card", { "aria-labelledby": "ft-loss-title" }, h("h2", { id: "ft-loss-title" }, "Loss"), this.chart.el),
      h(
        "div.detail-grid",
        null,
        h("section.card", { "aria-labelledby": "ft-facts-title" }, h("h2", { id: "ft-facts-title" }, "Details"), this.facts),
        h("section.card", { "aria-labelledby": "ft-links-title" }, h("h2", { id: "ft-links-title" }, "Lineage"), this.links),
      ),
    );
  }

  fill() {
    const r = this.record;
    setText(this.phase, r.status || "–");
    const fact = (label, value) => [h("dt", null, label), h("dd", null, value)];
    const hp = Object.entries(r.hyperparameters || {}).map(([k, v]) => `${k} ${v}`).join(", ");
    append(clear(this.facts), [
      fact("Status", r.status || "–"),
      fact("Provider", r.provider),
      fact("Provider status", r.providerStatus || "–"),
      fact("Provider job", r.providerJobId ? h("code.job-id", null, r.providerJobId) : "not created yet"),
      fact("Base model", r.baseModel),
      fact("Hyperparameters", hp || "auto"),
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
    if (p.stage) setText(this.phase, p.stage);
    setText(this.message, p.message || "");
  }

  /** Feed events: this fine-tune's metrics go on the curve; its other events refresh it. */
  event(event) {
    if (event.jobId !== this.id) return;
    if (!this.loaded) {
      this.pending.push(event);
      return;
    }
    if (event.kind === "metric" && event.data && Array.isArray(event.data.metrics)) {
      this.chart.add(event.data.metrics);
      return;
    }
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.refresh(), TERMINAL.has(event.kind) ? 50 : 400);
  }

  async refresh() {
    try {
      this.record = await this.api.fineTune(this.id);
      this.chart.add(this.record.metrics);
      this.fill();
      this.showJob();
    } catch {
      // Shown as it was; the next event tries again.
    }
  }
}

/** /fine-tuning/models/<id>: one model with its lineage. */
export class ModelView {
  constructor({ id, api }) {
    this.id = id;
    this.api = api;
    this.title = h("h1.detail-title", { tabIndex: -1 }, "Loading model…");
    this.el = h("div.page.page-model", null, h("a.back", { href: "/fine-tuning", dataset: { nav: "" } }, "← Fine-tuning"), this.title);
  }

  destroy() {}

  event() {}

  async start() {
    let m;
    try {
      m = await this.api.model(this.id);
    } catch (err) {
      setText(this.title, err.status === 404 ? "Model not found" : "Could not load the model");
      this.el.append(h("p.notice.notice-error", { role: "alert" }, err.message));
      return;
    }
    setText(this.title, m.name);
    document.title = `${m.name} · jobdeck`;
    const fact = (label, value) => [h("dt", null, label), h("dd", null, value)];
    append(this.el, [
      h(
        "div.detail-grid",
        null,
        h(
          "section.card",
          { "aria-labelledby": "model-facts" },
          h("h2", { id: "model-facts" }, "Details"),
          h("dl.facts", null, fact("Name", h("code.job-id", null, m.name)), fact("Provider", m.provider), fact("Base model", m.baseModel), fact("Created", fullTime(m.createdAt))),
        ),
        h(
          "section.card",
          { "aria-labelledby": "model-lineage" },
          h("h2", { id: "model-lineage" }, "Lineage"),
          h(
            "dl.facts",
            null,
            fact("Dataset", m.datasetId ? link(datasetHref(m.datasetId), "the training dataset") : "–"),
            fact("Fine-tune", m.jobId ? link(fineTuneHref(m.jobId), "the fine-tune") : "–"),
            fact("Background job", m.jobId ? link(jobHref(m.jobId), "the background job") : "–"),
          ),
        ),
      ),
      m.details ? h("details.card", null, h("summary", null, "Details from the provider"), h("pre.json", { tabIndex: 0 }, JSON.stringify(m.details, null, 2))) : null,
    ]);
  }
}
