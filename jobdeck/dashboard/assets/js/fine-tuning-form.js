// The form that starts a fine-tune (on /fine-tuning): a dataset with its validation report
// and cost estimate, a provider from GET /api/fine-tuning/providers (with its description,
// or what it needs when it is not configured), a base model, and the option sections the
// provider takes (its `options`): training options, or else hyperparameters, or neither.

import { append, clear, h, setText } from "./dom.js";
import { number } from "./format.js";
import { datasetHref, fineTuneHref, hintedField, link, takesOption } from "./fine-tuning-shared.js";

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

/** A number typed in a field: sent as a number, anything else as text (the API says what's wrong). */
function typed(raw) {
  return raw !== "" && !Number.isNaN(Number(raw)) ? Number(raw) : raw;
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

/** A text input for a number (or "auto"), described by its hint. */
function numberInput(id, placeholder) {
  return h("input", { id, type: "text", inputMode: "decimal", autocomplete: "off", placeholder, "aria-describedby": `${id}-hint` });
}

export class StartForm {
  constructor({ api, toast, navigate }) {
    this.api = api;
    this.toast = toast;
    this.navigate = navigate;
    this.datasets = [];
    this.providers = [];

    this.name = h("input", { id: "ft-name", type: "text", name: "name", required: true, autocomplete: "off", maxLength: 200 });
    this.dataset = h("select", { id: "ft-dataset", name: "datasetId", required: true, onchange: () => this.showDataset() });
    this.validation = h("select", { id: "ft-validation", name: "validationDatasetId" });
    this.datasetInfo = h("div.ft-dataset-info", { id: "ft-dataset-info", "aria-live": "polite" });
    this.providerList = h("div.ft-providers");
    this.baseModel = h("select", { id: "ft-base", name: "baseModel", required: true });
    this.hyper = {};
    const hyperFields = HYPERPARAMETERS.map(([key, label, hint]) => {
      this.hyper[key] = numberInput(`ft-${key}`, "auto");
      return hintedField(this.hyper[key], label, `auto or ${hint}`);
    });
    this.hyperFieldset = h("fieldset.ft-fieldset", null, h("legend", null, "Hyperparameters"), h("div.upload-fields", null, hyperFields));
    this.training = {};
    const trainingFields = TRAINING.map(([key, label, fallback]) => {
      this.training[key] = numberInput(`ft-t-${key}`, fallback);
      return hintedField(this.training[key], label, `default ${fallback}`);
    });
    this.device = h(
      "select",
      { id: "ft-t-device", name: "device" },
      h("option", { value: "auto" }, "auto (GPU when there is one)"),
      h("option", { value: "cpu" }, "CPU"),
      h("option", { value: "cuda" }, "GPU (CUDA)"),
    );
    this.ollamaBase = h("input", { id: "ft-t-ollama", type: "text", autocomplete: "off", maxLength: 200, placeholder: "e.g. llama3.2:1b", "aria-describedby": "ft-t-ollama-hint" });
    // Shown instead of the hyperparameters when the chosen provider takes `training` (at
    // most one of the two is in the page at a time).
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
    this.submit = h("button.btn.btn-primary", { type: "submit", "aria-describedby": "ft-start-why" }, "Start fine-tune");
    // Why Start is disabled (a dataset that fails the checks), or a note beside it.
    this.startWhy = h("p.ft-start-why", { id: "ft-start-why", hidden: true });
    this.blocked = null;
    this.busy = false;
    this.formError = h("p.notice.notice-error", { role: "alert", id: "ft-error", hidden: true });
    this.el = h(
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
      h("div.ft-actions", null, this.startWhy, this.submit),
    );
  }

  /** The datasets and the providers (with their base models), from the API. */
  async load() {
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
            h("label", { htmlFor: id }, p.label || p.name, p.configured ? "" : " (not configured)"),
            h("p.muted.ft-provider-desc", { id: `${id}-desc` }, p.description, p.configured ? "" : ` ${p.reason || ""}`),
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

  /** Which option fieldset the chosen provider takes: training, else hyperparameters, else none. */
  optionsShown(p) {
    if (!p) return null;
    if (takesOption(p.options, "training")) return this.trainingFieldset;
    if (takesOption(p.options, "hyperparameters")) return this.hyperFieldset;
    return null;
  }

  showModels() {
    const p = this.provider();
    const models = p ? p.baseModels : [];
    const none = (p && p.noModelsHint) || "No base models available";
    append(clear(this.baseModel), [
      models.length ? null : h("option", { value: "" }, p ? none : "Choose a provider first"),
      models.map((m) => h("option", { value: m }, m)),
    ]);
    const fieldset = this.optionsShown(p);
    if (fieldset) {
      if (this.options.firstChild !== fieldset) this.options.replaceChildren(fieldset);
    } else this.options.replaceChildren();
  }

  /** Start is refused (with the reason beside it) for a training dataset that fails the
   * checks: every provider's fine-tune runs them first and stops there, so starting one
   * would only make a failed job. A dataset not validated yet may start (the checks run
   * then); the note says so and links to its page to validate it first. */
  showStartState(d) {
    const report = d && d.validation;
    this.blocked = null;
    clear(this.startWhy);
    this.startWhy.className = "ft-start-why";
    if (report && !report.valid) {
      const reasons = report.errors.map((e) => `${e.message} (${number(e.count)} example${e.count === 1 ? "" : "s"})`).join("; ");
      this.blocked = `the dataset does not pass the fine-tuning checks: ${reasons || "the checks failed"}`;
      this.startWhy.classList.add("notice", "notice-error");
      append(this.startWhy, [
        `Cannot start: ${this.blocked}. Fix the data (see `,
        link(datasetHref(d.id), "its validation report"),
        ") or choose another dataset.",
      ]);
    } else if (d && !report && d.format === "jsonl") {
      this.startWhy.classList.add("muted");
      append(this.startWhy, [
        "This dataset has not been validated yet; the checks run when the fine-tune starts, and it stops if they fail. ",
        link(datasetHref(d.id), "Validate it first"),
        ".",
      ]);
    }
    this.startWhy.hidden = !this.startWhy.firstChild;
    this.submit.disabled = this.busy || Boolean(this.blocked);
  }

  showDataset() {
    const d = this.datasets.find((x) => x.id === this.dataset.value);
    clear(this.datasetInfo);
    this.showStartState(d);
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
    const shown = this.optionsShown(p);
    if (shown === this.trainingFieldset) body.training = this.trainingOptions();
    else if (shown === this.hyperFieldset) {
      const hyper = {};
      for (const [key] of HYPERPARAMETERS) {
        const raw = this.hyper[key].value.trim();
        // A number is sent as one; "auto" and anything else as text (the API says what's wrong).
        if (raw) hyper[key] = typed(raw);
      }
      if (Object.keys(hyper).length) body.hyperparameters = hyper;
    }
    return body;
  }

  /** The `training` object of a fine-tune on jobdeck's workers: what was typed; the rest is the API's default. */
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
    if (this.blocked) return this.showFormError(`Cannot start: ${this.blocked}.`);
    this.busy = true;
    this.submit.disabled = true;
    try {
      const record = await this.api.startFineTune(body);
      this.toast(`Started the fine-tune “${record.name}”.`);
      this.navigate(fineTuneHref(record.id));
    } catch (err) {
      this.showFormError(`Could not start the fine-tune: ${err.message}`);
    } finally {
      this.busy = false;
      this.submit.disabled = Boolean(this.blocked);
    }
  }
}
