// Fine-tuning: the page that starts a fine-tune (a dataset with its validation report and
// cost estimate, a provider, a base model, hyperparameters, or for local LoRA training its
// training options) and lists the fine-tunes and the models they made; one fine-tune's
// page (/fine-tuning/<id>) with its phase, step progress (rate, ETA), provider job, a live
// loss curve (inline SVG: the stored metrics first, then the feed's `metric` events), the
// kept checkpoints of a local training and its model; and one model's page
// (/fine-tuning/models/<id>) with its lineage. A LoRA adapter trained here shows its files
// (downloads) and publishes to Ollama (a `model-publish` job, followed live).

import { append, clear, h, setText } from "./dom.js";
import { bytes, eta, fullTime, number, rate, shortTime, TERMINAL } from "./format.js";
import { ProgressView, statusBadge } from "./table.js";

const SVG = "http://www.w3.org/2000/svg";
const HYPERPARAMETERS = [
  ["nEpochs", "Epochs", "1–50"],
  ["batchSize", "Batch size", "1–256"],
  ["learningRateMultiplier", "Learning rate multiplier", "e.g. 1.8"],
];
// Local LoRA training options: [key in `training`, label, default shown as the hint].
const TRAINING = [
  ["epochs", "Epochs", "1"],
  ["batchSize", "Batch size", "4"],
  ["learningRate", "Learning rate", "0.0002"],
  ["rank", "LoRA rank", "8"],
  ["checkpointEvery", "Checkpoint every (steps)", "50"],
  ["logEvery", "Loss every (steps)", "10"],
];
const FINE_TUNE_JOBS = new Set(["fine-tuning", "model-training"]);
const PROVIDER_LABEL = { openai: "OpenAI", ollama: "Ollama", local: "Local LoRA" };
// What a provider needs when the server says it is not configured (and gives no reason).
const NOT_CONFIGURED = {
  openai: "Set JOBDECK_OPENAI_API_KEY on the server.",
  ollama: "The server cannot reach Ollama (JOBDECK_OLLAMA_BASE_URL).",
  local: "No worker can train: run `jobdeck worker` on a machine with the training extra (pip install 'jobdeck[training]').",
};

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

/** Options as one line: {epochs: 2, lora: {rank: 4}} → "epochs 2, lora rank 4". */
function optionsText(options) {
  const parts = [];
  for (const [key, value] of Object.entries(options || {})) {
    if (value === null || value === undefined) continue;
    if (Array.isArray(value)) parts.push(`${key} ${value.join("/")}`);
    else if (typeof value === "object") {
      const inner = optionsText(value);
      if (inner) parts.push(`${key} ${inner}`);
    } else parts.push(`${key} ${value}`);
  }
  return parts.join(", ");
}

/** A number typed in a field: sent as a number, anything else as text (the API says what's wrong). */
function typed(raw) {
  return raw !== "" && !Number.isNaN(Number(raw)) ? Number(raw) : raw;
}

const lossText = (v) => (typeof v === "number" ? (Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(4)) : "–");

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
    this.hyperFieldset = h("fieldset.ft-fieldset", null, h("legend", null, "Hyperparameters"), h("div.upload-fields", null, hyperFields));
    this.training = {};
    const trainingFields = TRAINING.map(([key, label, fallback]) => {
      const input = h("input", { id: `ft-t-${key}`, type: "text", inputMode: "decimal", autocomplete: "off", placeholder: fallback, "aria-describedby": `ft-t-${key}-hint` });
      this.training[key] = input;
      return h("div.field", null, h("label", { htmlFor: `ft-t-${key}` }, label), input, h("span.hint", { id: `ft-t-${key}-hint` }, `default ${fallback}`));
    });
    this.device = h(
      "select",
      { id: "ft-t-device", name: "device" },
      h("option", { value: "auto" }, "auto (GPU when there is one)"),
      h("option", { value: "cpu" }, "CPU"),
      h("option", { value: "cuda" }, "GPU (CUDA)"),
    );
    this.ollamaBase = h("input", { id: "ft-t-ollama", type: "text", autocomplete: "off", maxLength: 200, placeholder: "e.g. llama3.2:1b", "aria-describedby": "ft-t-ollama-hint" });
    // Shown instead of the hyperparameters when the local provider is chosen (only one of
    // the two is in the page at a time).
    this.trainingFieldset = h(
      "fieldset.ft-fieldset.ft-training",
      null,
      h("legend", null, "Training"),
      h(
        "div.upload-fields",
        null,
        trainingFields,
        h("div.field", null, h("label", { htmlFor: "ft-t-device" }, "Device"), this.device),
        h(
          "div.field.field-wide",
          null,
          h("label", { htmlFor: "ft-t-ollama" }, "Ollama base model (for publishing)"),
          this.ollamaBase,
          h("span.hint", { id: "ft-t-ollama-hint" }, "the same model's name in Ollama; optional"),
        ),
      ),
    );
    this.options = h("div.ft-options", null, this.hyperFieldset);
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
      this.options,
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
            h("label", { htmlFor: id }, PROVIDER_LABEL[p.name] || p.name, p.configured ? "" : " (not configured)"),
            h("p.muted.ft-provider-desc", { id: `${id}-desc` }, p.description, p.configured ? "" : ` ${p.reason || NOT_CONFIGURED[p.name] || ""}`),
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
    const none = p && p.name === "local" ? "No base models: add a model folder to the base-models directory" : "No base models available";
    append(clear(this.baseModel), [
      models.length ? null : h("option", { value: "" }, p ? none : "Choose a provider first"),
      models.map((m) => h("option", { value: m }, m)),
    ]);
    const fieldset = p && p.name === "local" ? this.trainingFieldset : this.hyperFieldset;
    if (this.options.firstChild !== fieldset) this.options.replaceChildren(fieldset);
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
    if (body.provider === "local") {
      body.training = this.trainingOptions();
      return body;
    }
    const hyper = {};
    for (const [key] of HYPERPARAMETERS) {
      const raw = this.hyper[key].value.trim();
      if (!raw) continue;
      // A number is sent as one; "auto" and anything else as text (the API says what's wrong).
      hyper[key] = typed(raw);
    }
    if (Object.keys(hyper).length) body.hyperparameters = hyper;
    return body;
  }

  /** The `training` object of a local fine-tune: what was typed; the rest is the API's default. */
  trainingOptions() {
    const training = { device: this.device.value };
    for (const [key] of TRAINING) {
      const raw = this.training[key].value.trim();
      if (!raw) continue;
      if (key === "rank") training.lora = { rank: typed(raw) };
      else training[key] = typed(raw);
    }
    const ollama = this.ollamaBase.value.trim();
    if (ollama) training.ollamaBaseModel = ollama;
    return training;
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
          h("td", null, m.jobId ? (m.details && m.details.adapterOf ? link(jobHref(m.jobId), "the publish job") : link(fineTuneHref(m.jobId), "the fine-tune")) : "–"),
          h("td", null, h("time", { dateTime: m.createdAt, title: fullTime(m.createdAt) }, shortTime(m.createdAt))),
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
    this.refreshes = 0;
    this.modelPanel = null;
    this.title = h("h1.detail-title", { tabIndex: -1 }, "Loading fine-tune…");
    this.el = h("div.page.page-fine-tune", { "aria-busy": "true" }, h("a.back", { href: "/fine-tuning", dataset: { nav: "" } }, "← All fine-tunes"), this.title);
    this.unsubscribe = store.subscribe((changed) => changed.has(this.id) && this.showJob());
  }

  /** The model-publish job this page follows (the store keeps it while the page is open). */
  get publishJob() {
    return this.modelPanel ? this.modelPanel.publishJob : null;
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
    this.local = r.provider === "local";
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
    const fact = (label, dd) => [h("dt", null, label), dd];
    append(this.el, [
      h("div.detail-head", null, h("div.detail-meta", null, this.badge, h("code.job-id", null, r.id))),
      h(
        "section.card",
        { "aria-labelledby": "ft-progress-title" },
        h("h2", { id: "ft-progress-title" }, "Progress"),
        this.progress.el,
        this.message,
        h("dl.facts.facts-inline", null, fact("Phase", this.phase), fact("Stage", this.stage), fact("Rate", this.rate), fact("ETA", this.eta)),
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
    const fact = (label, value) => [h("dt", null, label), h("dd", null, value)];
    const hp = optionsText(r.hyperparameters); // unset ones (null) are left out
    append(clear(this.facts), [
      fact("Status", r.status || "–"),
      fact("Provider", PROVIDER_LABEL[r.provider] || r.provider),
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

/** A model's card: its facts and, for a LoRA adapter trained here, its files (downloaded
 * with the API key) and publishing it to Ollama, whose job it follows live. */
let panels = 0;
export class ModelPanel {
  constructor({ api, store, toast, withName = false }) {
    const uid = `model-panel-${++panels}`;
    this.api = api;
    this.store = store;
    this.toast = toast;
    this.withName = withName;
    this.modelId = null;
    this.model = null;
    this.publishJob = null;
    this.facts = h("dl.facts");
    this.files = h("ul.model-files");
    this.published = h("ul.published");
    this.base = h("input", { id: `${uid}-base`, type: "text", autocomplete: "off", maxLength: 200, placeholder: "e.g. llama3.2:1b", "aria-describedby": `${uid}-base-hint` });
    this.name = h("input", { id: `${uid}-name`, type: "text", autocomplete: "off", maxLength: 200, "aria-describedby": `${uid}-name-hint` });
    this.publishButton = h("button.btn.btn-primary", { type: "submit" }, "Publish to Ollama");
    this.error = h("p.notice.notice-error", { role: "alert", hidden: true });
    this.jobBadge = h("span.publish-badge");
    this.jobProgress = new ProgressView("Publishing progress");
    this.jobStage = h("span.muted.publish-stage");
    this.jobLink = h("a", { href: "#", dataset: { nav: "" } }, "View the publish job");
    this.jobLine = h("div.publish-job", { hidden: true }, this.jobBadge, this.jobProgress.el, this.jobStage, this.jobLink);
    this.result = h("p.publish-result", { role: "status" });
    const field = (input, label, hint) =>
      h("div.field", null, h("label", { htmlFor: input.id }, label), input, h("span.hint", { id: `${input.id}-hint` }, hint));
    this.form = h(
      "form.publish-form",
      { "aria-labelledby": `${uid}-publish`, onsubmit: (e) => this.publish(e) },
      h("h3", { id: `${uid}-publish` }, "Publish to Ollama"),
      h("div.upload-fields", null, [
        field(this.base, "Ollama base model", "the model the adapter was trained on, as Ollama names it"),
        field(this.name, "Name in Ollama (optional)", "default: this model's name"),
        h("div.field.field-end", null, this.publishButton),
      ]),
      this.error,
      this.jobLine,
      this.result,
    );
    this.adapter = h(
      "div.adapter",
      { hidden: true },
      h("h3", null, "Adapter files"),
      this.files,
      h("div.published-block", { hidden: true }, h("h3", null, "Published"), this.published),
      this.form,
    );
    this.notice = h("p.notice.notice-error", { role: "alert", hidden: true });
    this.el = h("div.model-panel", null, this.notice, this.facts, this.adapter);
    this.unsubscribe = store.subscribe((changed) => this.publishJob && changed.has(this.publishJob) && this.showPublishJob());
  }

  destroy() {
    this.unsubscribe();
  }

  async load(id) {
    this.modelId = id;
    try {
      this.show(await this.api.model(id));
      this.notice.hidden = true;
    } catch (err) {
      this.modelId = null; // the next refresh tries again
      this.notice.hidden = false;
      setText(this.notice, `Could not load the model: ${err.message}`);
    }
  }

  show(m) {
    const first = this.model === null;
    this.model = m;
    this.modelId = m.id;
    const d = m.details || {};
    const adapter = d.kind === "lora-adapter";
    const fact = (label, value) => [h("dt", null, label), h("dd", null, value)];
    append(clear(this.facts), [
      this.withName ? fact("Name", link(modelHref(m.id), h("code", null, m.name))) : null,
      this.withName ? fact("Base model", m.baseModel) : null,
      adapter ? fact("Trained on", d.device || "–") : null,
      adapter ? fact("Steps", number(d.steps)) : null,
      adapter ? fact("Train loss", lossText(d.trainLoss)) : null,
      adapter && d.validLoss != null ? fact("Validation loss", lossText(d.validLoss)) : null,
      adapter ? fact("LoRA", optionsText(d.lora) || "–") : null,
    ]);
    this.adapter.hidden = !adapter;
    if (!adapter) return;
    const sizes = d.adapterFiles || {};
    append(clear(this.files), [
      (m.files || []).map((url) => {
        const name = decodeURIComponent(url.slice(url.lastIndexOf("/") + 1));
        return h(
          "li",
          null,
          h("a", { href: url, download: name, onclick: (e) => this.download(e, url, name) }, name),
          typeof sizes[name] === "number" ? h("span.muted", null, ` ${bytes(sizes[name])}`) : null,
        );
      }),
      m.files && m.files.length ? null : h("li.muted", null, "No files: the adapter was not kept."),
    ]);
    const published = d.published || [];
    this.published.parentElement.hidden = !published.length;
    append(clear(this.published), [
      published.map((p) => h("li", null, "Ollama model ", h("code", null, p.ollama), p.modelId ? [" (", link(modelHref(p.modelId), "its model page"), ")"] : null)),
    ]);
    if (first && !this.base.value) this.base.value = d.ollamaBaseModel || "";
    this.name.placeholder = m.name;
  }

  async download(e, url, name) {
    // The files need the API key, which a plain link does not send: fetch, then save.
    e.preventDefault();
    try {
      const blob = await this.api.file(url);
      const href = URL.createObjectURL(blob);
      const save = h("a", { href, download: name, hidden: true });
      document.body.append(save);
      save.click();
      save.remove();
      setTimeout(() => URL.revokeObjectURL(href), 10_000);
    } catch (err) {
      this.toast(`Could not download ${name}: ${err.message}`, "error");
    }
  }

  async publish(e) {
    e.preventDefault();
    if (!this.model) return;
    this.error.hidden = true;
    setText(this.result, "");
    const body = {};
    const base = this.base.value.trim();
    const name = this.name.value.trim();
    if (base) body.baseModel = base;
    if (name) body.name = name;
    this.publishButton.disabled = true;
    let job;
    try {
      job = await this.api.publishModel(this.model.id, body);
    } catch (err) {
      this.error.hidden = false;
      setText(this.error, `Could not publish: ${err.message}`);
      this.publishButton.disabled = false;
      return;
    }
    this.publishJob = job.id;
    this.shownJob = null;
    this.store.put(job);
    this.showPublishJob();
    // Feed events of the job that came before this answer were not applied: catch up once.
    this.api.job(job.id).then((record) => this.store.put(record), () => {});
  }

  showPublishJob() {
    const job = this.store.get(this.publishJob);
    if (!job) return;
    this.jobLine.hidden = false;
    if (this.shownJob !== `${job.id}:${job.status}`) {
      clear(this.jobBadge).append(statusBadge(job.status));
      this.jobLink.href = jobHref(job.id);
      this.shownJob = `${job.id}:${job.status}`;
    }
    this.jobProgress.update(job);
    const p = job.progress || {};
    setText(this.jobStage, TERMINAL.has(job.status) ? "" : p.stage || "");
    if (!TERMINAL.has(job.status) || this.finished === job.id) return;
    if (job.status === "completed" && !job.result) return; // the record with it is on its way
    this.finished = job.id;
    this.publishButton.disabled = false;
    if (job.status === "completed") {
      clear(this.result).append("Published to Ollama as ", h("code", null, job.result.ollamaModel), ".");
      this.load(this.model.id); // its `published` list has the new model
    } else if (job.status === "failed") {
      const err = job.error || {};
      this.error.hidden = false;
      setText(this.error, `Publishing failed: ${[err.type, err.message].filter(Boolean).join(": ") || "error"}`);
    } else {
      setText(this.result, "Publishing was cancelled.");
    }
  }

  /** Feed events: the end of the publish job brings its result. */
  event(event) {
    if (!this.publishJob || event.jobId !== this.publishJob || !TERMINAL.has(event.kind)) return;
    this.api.job(this.publishJob).then((job) => this.store.put(job), () => {});
  }
}

/** /fine-tuning/models/<id>: one model with its lineage (and a LoRA adapter's files and
 * publishing). */
export class ModelView {
  constructor({ id, api, store, toast }) {
    this.id = id;
    this.api = api;
    this.panel = new ModelPanel({ api, store, toast });
    this.title = h("h1.detail-title", { tabIndex: -1 }, "Loading model…");
    this.el = h("div.page.page-model", null, h("a.back", { href: "/fine-tuning", dataset: { nav: "" } }, "← Fine-tuning"), this.title);
  }

  get publishJob() {
    return this.panel.publishJob;
  }

  destroy() {
    this.panel.destroy();
  }

  event(event) {
    this.panel.event(event);
  }

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
    const adapter = m.details && m.details.kind === "lora-adapter";
    if (adapter) this.panel.show(m);
    append(this.el, [
      h(
        "div.detail-grid",
        null,
        h(
          "section.card",
          { "aria-labelledby": "model-facts" },
          h("h2", { id: "model-facts" }, "Details"),
          h("dl.facts", null, fact("Name", h("code.job-id", null, m.name)), fact("Provider", PROVIDER_LABEL[m.provider] || m.provider), fact("Base model", m.baseModel), fact("Created", fullTime(m.createdAt))),
        ),
        h(
          "section.card",
          { "aria-labelledby": "model-lineage" },
          h("h2", { id: "model-lineage" }, "Lineage"),
          h(
            "dl.facts",
            null,
            fact("Dataset", m.datasetId ? link(datasetHref(m.datasetId), "the training dataset") : "–"),
            m.details && m.details.adapterOf
              ? fact("Adapter of", link(modelHref(m.details.adapterOf), "the LoRA adapter's model"))
              : fact("Fine-tune", m.jobId ? link(fineTuneHref(m.jobId), "the fine-tune") : "–"),
            fact("Background job", m.jobId ? link(jobHref(m.jobId), "the background job") : "–"),
          ),
        ),
      ),
      adapter ? h("section.card", { "aria-labelledby": "model-adapter" }, h("h2", { id: "model-adapter" }, "LoRA adapter"), this.panel.el) : null,
      m.details ? h("details.card", null, h("summary", null, "Details from the provider"), h("pre.json", { tabIndex: 0 }, JSON.stringify(m.details, null, 2))) : null,
    ]);
  }
}
