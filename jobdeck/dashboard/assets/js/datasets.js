// Datasets: the list with an upload form (and its progress bar), and one dataset's page
// with its lineage (the dataset and job it came from, the datasets made from it), its
// fine-tuning validation report, and a button that runs a validation job, followed live.

import { append, clear, h, saveBlob, setText } from "./dom.js";
import { bytes, fullTime, number, shortTime, TERMINAL } from "./format.js";

const FORMATS = [
  ["csv", "CSV"],
  ["tsv", "TSV"],
  ["json", "JSON"],
  ["jsonl", "JSONL"],
  ["parquet", "Parquet"],
  ["xlsx", "XLSX"],
];

/** A value as text, "–" where it is missing (never a literal "null"). */
const shown = (value) => (value === null || value === undefined || value === "" ? "–" : String(value));
import { ProgressView, statusBadge } from "./table.js";

const PAGE_SIZE = 50;
const NO_DATASETS = "No datasets yet. Upload one above, or convert one with a data-conversion job.";
const DATASET_JOBS = new Set(["data-conversion", "dataset-validation"]);

function datasetLink(id, label) {
  return h("a", { href: `/datasets/${encodeURIComponent(id)}`, dataset: { nav: "" } }, label);
}

function jobLink(id, label) {
  return h("a", { href: `/jobs/${encodeURIComponent(id)}`, dataset: { nav: "" } }, label);
}

function validationText(report) {
  if (!report) return "not validated";
  if (report.valid) return "valid";
  const problems = report.errors.reduce((sum, e) => sum + e.count, 0);
  return `${number(problems)} problem${problems === 1 ? "" : "s"}`;
}

export class DatasetsView {
  constructor({ api, toast }) {
    this.api = api;
    this.toast = toast;
    this.cursors = [null];
    this.nextCursor = null;
    this.reloadTimer = null;
    this.file = h("input", { id: "ds-file", type: "file", name: "file", accept: ".csv,.tsv,.json,.jsonl,.parquet,.xlsx", required: true });
    this.name = h("input", { id: "ds-name", type: "text", name: "name", autocomplete: "off", placeholder: "the file's name" });
    this.format = h(
      "select",
      { id: "ds-format", name: "format" },
      h("option", { value: "" }, "From the file's name"),
      FORMATS.map(([value, label]) => h("option", { value }, label)),
    );
    this.submit = h("button.btn.btn-primary", { type: "submit" }, "Upload");
    this.progress = new ProgressView("Upload progress");
    this.progressRow = h("div.upload-progress", { hidden: true }, this.progress.el);
    this.uploadError = h("p.notice.notice-error", { role: "alert", hidden: true });
    const form = h(
      "form.upload",
      { "aria-labelledby": "upload-title", onsubmit: (e) => this.upload(e) },
      h("h2", { id: "upload-title" }, "Upload a dataset"),
      h(
        "div.upload-fields",
        null,
        h("div.field", null, h("label", { htmlFor: "ds-file" }, "File (CSV, TSV, JSON, JSONL, Parquet, XLSX)"), this.file),
        h("div.field", null, h("label", { htmlFor: "ds-name" }, "Name (optional)"), this.name),
        h("div.field", null, h("label", { htmlFor: "ds-format" }, "Format"), this.format),
        h("div.field.field-end", null, this.submit),
      ),
      this.progressRow,
      this.uploadError,
    );
    this.body = h("tbody");
    // Search by name (?q=, kept in the URL like the jobs list's filters).
    this.q = new URLSearchParams(location.search).get("q") || "";
    this.search = h("input", { id: "ds-q", type: "search", name: "q", value: this.q, placeholder: "Dataset name", autocomplete: "off", spellcheck: false });
    this.search.addEventListener("input", () => {
      clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => this.searchFor(this.search.value.trim()), 200);
    });
    this.empty = h("p.empty", { hidden: true }, NO_DATASETS);
    this.error = h("p.notice.notice-error", { role: "alert", hidden: true });
    this.prev = h("button.btn.btn-small", { type: "button", disabled: true, onclick: () => this.page(-1) }, "Newer");
    this.next = h("button.btn.btn-small", { type: "button", disabled: true, onclick: () => this.page(1) }, "Older");
    this.el = h(
      "div.page.page-datasets",
      null,
      h("div.page-head", null, h("h1", null, "Datasets")),
      h("section.card", null, form),
      h("form.filters", { role: "search", "aria-label": "Search datasets", onsubmit: (e) => e.preventDefault() }, h("div.field.field-search", null, h("label", { htmlFor: "ds-q" }, "Search"), this.search)),
      this.error,
      h(
        "div.table-wrap",
        null,
        h(
          "table.datasets",
          null,
          h("caption.visually-hidden", null, "Datasets, newest first"),
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              ["Name", "Format", "Size", "Rows", "Validation", "Made from", "Created"].map((t) =>
                h(t === "Size" || t === "Rows" ? "th.num" : "th", { scope: "col" }, t),
              ),
            ),
          ),
          this.body,
        ),
        this.empty,
      ),
      h("nav.pager", { "aria-label": "Pages" }, this.prev, this.next),
    );
  }

  start() {
    return this.load();
  }

  destroy() {
    clearTimeout(this.reloadTimer);
    clearTimeout(this.searchTimer);
  }

  async load() {
    try {
      const answer = await this.api.datasets({ limit: PAGE_SIZE, cursor: this.cursors[this.cursors.length - 1], q: this.q });
      this.error.hidden = true;
      this.render(answer.data);
      this.nextCursor = answer.nextCursor;
    } catch (err) {
      this.error.hidden = false;
      setText(this.error, `Could not load datasets: ${err.message}`);
    }
    this.prev.disabled = this.cursors.length === 1;
    this.next.disabled = !this.nextCursor;
  }

  render(datasets) {
    clear(this.body);
    for (const d of datasets) {
      const from = d.sourceDatasetId
        ? [datasetLink(d.sourceDatasetId, "a dataset"), d.jobId ? [" by ", jobLink(d.jobId, "a job")] : null]
        : "uploaded";
      this.body.append(
        h(
          "tr",
          { dataset: { id: d.id } },
          h("td", null, datasetLink(d.id, d.name)),
          h("td", null, h("span.type-chip", null, shown(d.format))),
          h("td.num", null, bytes(d.sizeBytes)),
          h("td.num", null, d.rowCount === null ? "–" : number(d.rowCount)),
          h("td", null, h(`span.validation.validation-${d.validation ? (d.validation.valid ? "ok" : "bad") : "none"}`, null, validationText(d.validation))),
          h("td", null, from),
          h("td", null, h("time", { dateTime: d.createdAt, title: fullTime(d.createdAt) }, shortTime(d.createdAt))),
        ),
      );
    }
    this.empty.hidden = datasets.length > 0;
    setText(this.empty, this.q ? `No dataset's name contains “${this.q}”.` : NO_DATASETS);
  }

  searchFor(q) {
    if (q === this.q) return;
    this.q = q;
    this.cursors = [null];
    const url = `${location.pathname}${q ? `?q=${encodeURIComponent(q)}` : ""}`;
    history.replaceState(history.state, "", url);
    this.load();
  }

  page(step) {
    if (step > 0 && this.nextCursor) this.cursors.push(this.nextCursor);
    else if (step < 0 && this.cursors.length > 1) this.cursors.pop();
    else return;
    this.load();
  }

  async upload(e) {
    e.preventDefault();
    const file = this.file.files[0];
    this.uploadError.hidden = true;
    if (!file) {
      this.uploadError.hidden = false;
      setText(this.uploadError, "Choose a file to upload.");
      return;
    }
    this.submit.disabled = true;
    this.progressRow.hidden = false;
    const show = (loaded, total) =>
      this.progress.update({
        status: loaded >= total ? "completed" : "active",
        progress: { percent: total ? (100 * loaded) / total : null, current: loaded, total, unit: "bytes" },
      });
    show(0, file.size);
    try {
      const dataset = await this.api.uploadDataset(file, this.name.value.trim(), show, this.format.value);
      show(file.size, file.size);
      this.toast(`Uploaded “${dataset.name}”.`, "info", { href: `/datasets/${dataset.id}`, text: "View it" });
      this.file.value = "";
      this.name.value = "";
      this.cursors = [null];
      await this.load();
    } catch (err) {
      this.uploadError.hidden = false;
      // The API asks API clients for a `format` field; here that is the Format select.
      const message = /cannot tell the format/.test(err.message)
        ? `Upload failed: the format of “${file.name}” cannot be told from its name. Choose it under Format and upload again.`
        : `Upload failed: ${err.message}`;
      setText(this.uploadError, message);
      if (/cannot tell the format/.test(err.message)) this.format.focus();
      this.progressRow.hidden = true;
    } finally {
      this.submit.disabled = false;
    }
  }

  /** Feed events: a conversion that finishes made a dataset; a validation, a report. */
  event(event) {
    const job = event.data && event.data.job;
    if (!job || !DATASET_JOBS.has(job.type) || !TERMINAL.has(job.status) || this.cursors.length > 1) return;
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.load(), 300);
  }
}

export class DatasetView {
  constructor({ id, api, toast, store }) {
    this.id = id;
    this.api = api;
    this.toast = toast;
    this.store = store;
    this.validationJob = null;
    this.title = h("h1.detail-title", { tabIndex: -1 }, "Loading dataset…");
    this.el = h("div.page.page-dataset", null, h("a.back", { href: "/datasets", dataset: { nav: "" } }, "← All datasets"), this.title);
  }

  destroy() {
    clearTimeout(this.refreshTimer);
  }

  /** The validation job this page started and follows (the store keeps it). */
  jobIds() {
    return [this.validationJob];
  }

  async start() {
    try {
      this.dataset = await this.api.dataset(this.id);
    } catch (err) {
      setText(this.title, err.status === 404 ? "Dataset not found" : "Could not load the dataset");
      this.el.append(h("p.notice.notice-error", { role: "alert" }, err.message));
      return;
    }
    this.build();
    this.fill();
  }

  build() {
    const d = this.dataset;
    setText(this.title, d.name);
    document.title = `${d.name} · jobdeck`;
    this.validate = h("button.btn", { type: "button", onclick: () => this.runValidation() }, "Validate for fine-tuning");
    const download = h("button.btn.btn-quiet", { type: "button", onclick: () => this.downloadFile() }, "Download");
    this.facts = h("dl.facts");
    this.lineage = h("dl.facts");
    this.children = h("dd");
    this.report = h("div.report");
    this.jobProgress = new ProgressView("Validation progress");
    this.jobLine = h("div.validation-job", { hidden: true });
    this.el.append(
      h("div.detail-head", null, h("div.detail-actions", null, this.validate, download)),
      h(
        "div.detail-grid",
        null,
        h("section.card", { "aria-labelledby": "ds-facts" }, h("h2", { id: "ds-facts" }, "Details"), this.facts),
        h("section.card", { "aria-labelledby": "ds-lineage" }, h("h2", { id: "ds-lineage" }, "Lineage"), this.lineage),
      ),
      h(
        "section.card",
        { "aria-labelledby": "ds-report" },
        h("h2", { id: "ds-report" }, "Validation report"),
        this.jobLine,
        this.report,
      ),
      d.details ? h("details.card", null, h("summary", null, "What reading it found"), h("pre.json", { tabIndex: 0 }, JSON.stringify(d.details, (_, v) => (v === null ? "–" : v), 2))) : null,
    );
  }

  fill() {
    const d = this.dataset;
    const fact = (label, value) => [h("dt", null, label), h("dd", null, value)];
    append(clear(this.facts), [
      fact("Format", shown(d.format)),
      fact("Size", `${bytes(d.sizeBytes)} (${number(d.sizeBytes)} bytes)`),
      fact("Rows", d.rowCount === null ? "not counted yet" : number(d.rowCount)),
      fact("Created", fullTime(d.createdAt)),
      fact("SHA-256", h("code.job-id", null, d.sha256)),
    ]);
    append(clear(this.lineage), [
      fact("Made from", d.sourceDatasetId ? datasetLink(d.sourceDatasetId, "the source dataset") : "uploaded"),
      d.jobId ? fact("By job", jobLink(d.jobId, "the conversion job")) : null,
      h("dt", null, "Made from it"),
      this.children,
    ]);
    this.loadChildren();
    this.validate.hidden = d.format !== "jsonl";
    this.renderReport(d.validation);
  }

  async loadChildren() {
    try {
      const answer = await this.api.datasets({ sourceDatasetId: this.id, limit: 20 });
      clear(this.children);
      if (!answer.data.length) setText(this.children, "none yet");
      answer.data.forEach((child, i) => append(this.children, [i ? ", " : "", datasetLink(child.id, child.name)]));
    } catch {
      setText(this.children, "–");
    }
  }

  renderReport(report) {
    clear(this.report);
    if (!report) {
      this.report.append(h("p.muted", null, this.dataset.format === "jsonl" ? "Not validated yet." : "Validation checks OpenAI chat JSONL; convert this dataset first (a data-conversion job with outputFormat openai-chat)."));
      return;
    }
    const table = (title, rows) =>
      rows.length
        ? [
            h("h3", null, title),
            h(
              "table.report-table",
              null,
              h("thead", null, h("tr", null, ["Problem", "Count", "First lines"].map((t) => h("th", { scope: "col" }, t)))),
              h("tbody", null, rows.map((r) => h("tr", null, h("td", null, r.message), h("td.num", null, number(r.count)), h("td", null, (r.firstLines || []).map(shown).join(", ") || "–")))),
            ),
          ]
        : null;
    const t = report.tokens || {};
    const b = report.billing || {};
    append(this.report, [
      h(`p.report-verdict.validation-${report.valid ? "ok" : "bad"}`, null, report.valid ? `Valid: ${number(report.examples)} examples for ${shown(report.model)}.` : `${validationText(report)} in ${number(report.examples)} examples for ${shown(report.model)}.`),
      table("Errors", report.errors),
      table("Warnings", report.warnings),
      h(
        "dl.facts.facts-inline",
        null,
        h("dt", null, "Tokens"),
        h("dd", null, `${number(t.total)} (${shown(t.encoding)})`),
        h("dt", null, "Per example"),
        h("dd", null, `${number(t.min)}–${number(t.max)}, mean ${number(t.mean)}`),
        h("dt", null, "Over the context limit"),
        h("dd", null, `${number(t.overContextLimit)} (limit ${number(t.contextLimit)})`),
        h("dt", null, "Estimated cost"),
        h("dd.cost", null, `${typeof b.estimatedCostUsd === "number" ? `$${b.estimatedCostUsd.toFixed(2)}` : "–"} for ${number(b.epochs)} epoch${b.epochs === 1 ? "" : "s"}${b.epochsDefaulted ? " (default)" : ""}, ${number(b.billedTokens)} billed tokens (prices as of ${shown(b.pricesAsOf)})`),
      ),
    ]);
  }

  async runValidation() {
    this.validate.disabled = true;
    try {
      const job = await this.api.validateDataset(this.id);
      this.validationJob = job.id;
      this.store.put(job);
      this.showJob(job);
    } catch (err) {
      this.toast(`Could not start the validation: ${err.message}`, "error");
      this.validate.disabled = false;
    }
  }

  showJob(job) {
    this.jobLine.hidden = false;
    clear(this.jobLine).append(statusBadge(job.status), this.jobProgress.el, jobLink(job.id, "View the validation job"));
    this.jobProgress.update(job);
  }

  /** Feed events: follow our validation job; refresh when a job about this dataset ends. */
  event(event) {
    const job = this.store.get(event.jobId);
    if (event.jobId === this.validationJob && job) this.showJob(job);
    const state = event.data && event.data.job;
    if (!state || !DATASET_JOBS.has(state.type) || !TERMINAL.has(state.status)) return;
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(async () => {
      try {
        this.dataset = await this.api.dataset(this.id);
        this.fill();
        if (event.jobId === this.validationJob) this.validate.disabled = false;
      } catch {
        // Shown as it was; the next event tries again.
      }
    }, 200);
  }

  async downloadFile() {
    try {
      saveBlob(await this.api.download(this.id), this.dataset.name);
    } catch (err) {
      this.toast(`Could not download: ${err.message}`, "error");
    }
  }
}
