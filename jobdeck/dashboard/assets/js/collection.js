// /collections/:id (issue 13): one collection. Upload documents (many files or .zip
// archives in one multipart request, with a progress bar), process them, or make each row
// of a dataset a document and process those (a document-processing job either way,
// followed live), the documents table with each one's outcome, and a search box whose
// hits show their document, page and score.
//
// The documents table fills live: every feed event of a document-processing job (its
// progress after each chunk of documents, its end) refetches the page of documents shown,
// at most a few times a second, so it also follows a job started from the CLI or the API.

import { sendForm } from "./api.js";
import { chunkingText, collectionPath, embeddingText } from "./collections.js";
import { append, clear, h, setText } from "./dom.js";
import { bytes, fullTime, number } from "./format.js";
import { ProgressView, statusBadge } from "./table.js";

const PAGE_SIZE = 100;
const REFRESH_MS = 250;
const HITS = 5;
const ACCEPT = ".pdf,.docx,.pptx,.xlsx,.html,.htm,.md,.markdown,.txt,.text,.zip";
const DOCUMENT_STATUS = {
  pending: "Pending",
  succeeded: "Succeeded",
  partial: "Partial",
  needs_ocr: "Needs OCR",
  failed: "Failed",
  skipped: "Skipped",
};
const shown = (value) => (value === null || value === undefined || value === "" ? "–" : String(value));
const count = (value) => (value === null || value === undefined ? "–" : number(value));

function jobLink(id, label) {
  return h("a", { href: `/jobs/${encodeURIComponent(id)}`, dataset: { nav: "" } }, label);
}

/** POST files to the collection as multipart (field `file`, repeated), with progress. */
function sendFiles(id, files, onProgress) {
  const form = new FormData();
  for (const file of files) form.append("file", file);
  const total = files.reduce((sum, f) => sum + f.size, 0);
  return sendForm(collectionPath(id, "/uploads"), form, onProgress, total);
}

/** One row of the documents table, created once and patched in place. */
class DocumentRow {
  constructor(id) {
    this.name = h("td.doc-name");
    this.format = h("td");
    this.status = h("span.doc-status");
    this.pages = h("td.num");
    this.chunks = h("td.num");
    this.tokens = h("td.num");
    this.error = h("td.doc-error");
    this.el = h("tr", { dataset: { id } }, this.name, this.format, h("td", null, this.status), this.pages, this.chunks, this.tokens, this.error);
  }

  update(d) {
    setText(this.name, d.filename);
    this.name.title = `${bytes(d.sizeBytes)}, uploaded ${fullTime(d.createdAt)}`;
    setText(this.format, shown(d.format));
    this.status.className = `doc-status doc-status-${d.status}`;
    setText(this.status, DOCUMENT_STATUS[d.status] || d.status);
    setText(this.pages, count(d.pages));
    setText(this.chunks, count(d.chunks));
    setText(this.tokens, count(d.tokens));
    const failedPages = d.failedPages ? Object.keys(d.failedPages).length : 0;
    setText(this.error, d.error || (failedPages ? `${number(failedPages)} pages failed` : ""));
  }
}

export class CollectionView {
  constructor({ id, api, toast, store }) {
    this.id = id;
    this.api = api;
    this.toast = toast;
    this.store = store;
    this.jobId = null; // the processing job this page started and follows
    this.rows = new Map();
    this.cursors = [null];
    this.nextCursor = null;
    this.loadSeq = 0;
    this.refreshTimer = null;
    this.title = h("h1.detail-title", { tabIndex: -1 }, "Loading collection…");
    this.el = h("div.page.page-collection", null, h("a.back", { href: "/collections", dataset: { nav: "" } }, "← All collections"), this.title);
  }

  /** The processing job this page follows (the store keeps it). */
  jobIds() {
    return [this.jobId];
  }

  destroy() {
    clearTimeout(this.refreshTimer);
    this.loadSeq += 1;
  }

  async start() {
    try {
      this.collection = await this.api.send("GET", collectionPath(this.id));
    } catch (err) {
      setText(this.title, err.status === 404 ? "Collection not found" : "Could not load the collection");
      this.el.append(h("p.notice.notice-error", { role: "alert" }, err.message));
      return;
    }
    this.build();
    this.fillFacts();
    this.loadDatasets();
    await this.loadDocuments();
  }

  async loadDatasets() {
    try {
      const answer = await this.api.datasets({ limit: 200 });
      this.dataset.append(...answer.data.map((d) => h("option", { value: d.id }, `${d.name} (${d.format})`)));
    } catch (err) {
      this.rowsError.hidden = false;
      setText(this.rowsError, `Could not load the datasets: ${err.message}`);
    }
  }

  build() {
    const c = this.collection;
    setText(this.title, c.name);
    document.title = `${c.name} · jobdeck`;
    this.facts = h("dl.facts.facts-inline");

    this.files = h("input", { id: "co-files", type: "file", name: "file", multiple: true, accept: ACCEPT, required: true });
    this.uploadButton = h("button.btn.btn-primary", { type: "submit" }, "Upload");
    this.uploadProgress = new ProgressView("Upload progress");
    this.uploadProgressRow = h("div.upload-progress", { hidden: true }, this.uploadProgress.el);
    this.uploadError = h("p.notice.notice-error", { role: "alert", hidden: true });
    this.uploadNote = h("p.notice", { role: "status", hidden: true });
    const upload = h(
      "form.upload",
      { "aria-labelledby": "co-upload-title", onsubmit: (e) => this.upload(e) },
      h("h2", { id: "co-upload-title" }, "Upload documents"),
      h(
        "div.upload-fields",
        null,
        h("div.field", null, h("label", { htmlFor: "co-files" }, "Files (PDF, DOCX, PPTX, XLSX, HTML, Markdown, text, or .zip archives of them)"), this.files),
        h("div.field.field-end", null, this.uploadButton),
      ),
      this.uploadProgressRow,
      this.uploadError,
      this.uploadNote,
    );

    this.force = h("input", { id: "co-force", type: "checkbox" });
    this.ingestButton = h("button.btn.btn-primary", { type: "button", onclick: () => this.ingest({}) }, "Process documents");
    this.dataset = h("select", { id: "co-dataset", required: true }, h("option", { value: "" }, "Choose a dataset"));
    this.textColumn = h("input", { id: "co-text-column", type: "text", required: true, value: "text", maxLength: 255, autocomplete: "off", spellcheck: false });
    this.titleColumn = h("input", { id: "co-title-column", type: "text", maxLength: 255, autocomplete: "off", spellcheck: false, placeholder: "default: the row number" });
    this.rowsButton = h("button.btn", { type: "submit" }, "Process the rows");
    this.rowsError = h("p.notice.notice-error", { role: "alert", hidden: true });
    const field = (id, label, input) => h("div.field", null, h("label", { htmlFor: id }, label), input);
    const fromDataset = h(
      "form",
      { "aria-labelledby": "co-rows-title", onsubmit: (e) => this.ingestRows(e) },
      h("h3", { id: "co-rows-title" }, "Or make each row of a dataset a document"),
      h(
        "div.upload-fields",
        null,
        field("co-dataset", "Dataset", this.dataset),
        field("co-text-column", "Text column", this.textColumn),
        field("co-title-column", "Title column (optional)", this.titleColumn),
        h("div.field.field-end", null, this.rowsButton),
      ),
      this.rowsError,
    );
    this.jobProgress = new ProgressView("Processing progress");
    this.jobLine = h("div.validation-job", { hidden: true });
    this.jobMessage = h("p.muted.job-message", { hidden: true });
    const processing = h(
      "section.card",
      { "aria-labelledby": "co-process-title" },
      h("h2", { id: "co-process-title" }, "Processing"),
      h("p.muted", null, "Parse, chunk, embed and index the documents not processed yet (or changed since)."),
      h("div.form-actions", null, this.ingestButton, h("label.check", { htmlFor: "co-force" }, this.force, " Redo unchanged documents too")),
      this.jobLine,
      this.jobMessage,
      fromDataset,
    );

    this.body = h("tbody");
    this.empty = h("p.empty", { hidden: true }, "No documents yet. Upload some above.");
    this.listError = h("p.notice.notice-error", { role: "alert", hidden: true });
    this.prev = h("button.btn.btn-small", { type: "button", disabled: true, onclick: () => this.page(-1) }, "Newer");
    this.next = h("button.btn.btn-small", { type: "button", disabled: true, onclick: () => this.page(1) }, "Older");

    this.query = h("input", { id: "co-query", type: "search", name: "query", required: true, maxLength: 4000, autocomplete: "off", placeholder: "Ask or describe what you are looking for" });
    this.hits = h("ol.hits", { "aria-label": "Search hits" });
    this.searchNote = h("p.muted", { role: "status" });
    const search = h(
      "section.card",
      { "aria-labelledby": "co-search-title" },
      h("h2", { id: "co-search-title" }, "Search"),
      h(
        "form.upload-fields",
        { role: "search", "aria-label": "Search the collection", onsubmit: (e) => this.search(e) },
        h("div.field.field-search", null, h("label", { htmlFor: "co-query" }, "Query"), this.query),
        h("div.field.field-end", null, h("button.btn", { type: "submit" }, "Search")),
      ),
      this.searchNote,
      this.hits,
    );

    this.el.append(
      h("section.card", { "aria-labelledby": "co-facts" }, h("h2", { id: "co-facts" }, "Details"), this.facts),
      h("section.card", null, upload),
      processing,
      h(
        "section",
        { "aria-labelledby": "co-docs-title" },
        h("h2", { id: "co-docs-title" }, "Documents"),
        this.listError,
        h(
          "div.table-wrap",
          null,
          h(
            "table.datasets.documents",
            null,
            h("caption.visually-hidden", null, "The collection's documents, newest first, with their latest outcome"),
            h(
              "thead",
              null,
              h(
                "tr",
                null,
                ["Document", "Format", "Status", "Pages", "Chunks", "Tokens", "Error"].map((t) =>
                  h(["Pages", "Chunks", "Tokens"].includes(t) ? "th.num" : "th", { scope: "col" }, t),
                ),
              ),
            ),
            this.body,
          ),
          this.empty,
        ),
        h("nav.pager", { "aria-label": "Pages of documents" }, this.prev, this.next),
      ),
      search,
    );
  }

  fillFacts() {
    const c = this.collection;
    const fact = (label, value) => [h("dt", null, label), h("dd", null, value)];
    append(clear(this.facts), [
      fact("Embedding", embeddingText(c.embedding)),
      fact("Chunking", chunkingText(c.chunking)),
      fact("Created", fullTime(c.createdAt)),
      fact("Id", h("code.job-id", null, c.id)),
    ]);
  }

  async loadDocuments() {
    const mine = ++this.loadSeq;
    try {
      const params = { limit: PAGE_SIZE, cursor: this.cursors[this.cursors.length - 1] };
      const answer = await this.api.send("GET", collectionPath(this.id, "/documents"), { params });
      if (mine !== this.loadSeq) return; // a later load (or leaving the page) overtook it
      this.listError.hidden = true;
      this.render(answer.data);
      this.nextCursor = answer.nextCursor;
    } catch (err) {
      if (mine !== this.loadSeq) return;
      this.listError.hidden = false;
      setText(this.listError, `Could not load the documents: ${err.message}`);
    }
    this.prev.disabled = this.cursors.length === 1;
    this.next.disabled = !this.nextCursor;
  }

  render(documents) {
    const seen = new Set();
    documents.forEach((d, index) => {
      seen.add(d.id);
      let row = this.rows.get(d.id);
      if (!row) {
        row = new DocumentRow(d.id);
        this.rows.set(d.id, row);
      }
      row.update(d);
      if (this.body.children[index] !== row.el) this.body.insertBefore(row.el, this.body.children[index] || null);
    });
    for (const [id, row] of this.rows) {
      if (!seen.has(id)) {
        row.el.remove();
        this.rows.delete(id);
      }
    }
    this.empty.hidden = documents.length > 0;
  }

  page(step) {
    if (step > 0 && this.nextCursor) this.cursors.push(this.nextCursor);
    else if (step < 0 && this.cursors.length > 1) this.cursors.pop();
    else return;
    this.loadDocuments();
  }

  refreshSoon() {
    if (this.refreshTimer !== null) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      this.loadDocuments();
    }, REFRESH_MS);
  }

  async upload(e) {
    e.preventDefault();
    const files = [...this.files.files];
    this.uploadError.hidden = true;
    this.uploadNote.hidden = true;
    if (!files.length) {
      this.uploadError.hidden = false;
      setText(this.uploadError, "Choose one or more files to upload.");
      return;
    }
    this.uploadButton.disabled = true;
    this.uploadProgressRow.hidden = false;
    const show = (loaded, total) =>
      this.uploadProgress.update({
        status: loaded >= total ? "completed" : "active",
        progress: { percent: total ? (100 * loaded) / total : null, current: loaded, total, unit: "bytes" },
      });
    show(0, 1);
    try {
      const answer = await sendFiles(this.id, files, show);
      show(1, 1);
      const n = answer.data.length;
      this.toast(`Uploaded ${number(n)} document${n === 1 ? "" : "s"}.`);
      if (answer.skipped.length) {
        this.uploadNote.hidden = false;
        setText(this.uploadNote, `Skipped ${answer.skipped.map((s) => `${s.name} (${s.reason})`).join("; ")}`);
      }
      this.files.value = "";
      this.cursors = [null];
      await this.loadDocuments();
    } catch (err) {
      this.uploadProgressRow.hidden = true;
      this.uploadError.hidden = false;
      setText(this.uploadError, `Upload failed: ${err.message}`);
    } finally {
      this.uploadButton.disabled = false;
    }
  }

  /** Start a processing job (`body`: the ingest request; a refusal is thrown). */
  async ingest(body, { quiet = false } = {}) {
    this.ingestButton.disabled = true;
    try {
      const job = await this.api.send("POST", collectionPath(this.id, "/ingest"), { body: { ...body, ...(this.force.checked ? { force: true } : {}) } });
      this.jobId = job.id;
      this.store.put(job);
      this.showJob(this.store.get(job.id) || job);
    } catch (err) {
      this.ingestButton.disabled = false;
      if (quiet) throw err;
      this.toast(`Could not start processing: ${err.message}`, "error");
    }
  }

  async ingestRows(e) {
    e.preventDefault();
    this.rowsError.hidden = true;
    const title = this.titleColumn.value.trim();
    const body = { datasetId: this.dataset.value, textColumn: this.textColumn.value.trim(), ...(title ? { titleColumn: title } : {}) };
    this.rowsButton.disabled = true;
    try {
      await this.ingest(body, { quiet: true });
    } catch (err) {
      this.rowsError.hidden = false;
      setText(this.rowsError, `Could not start processing: ${err.message}`);
    } finally {
      this.rowsButton.disabled = false;
    }
  }

  showJob(job) {
    if (this.jobLine.hidden || !this.jobLine.contains(this.jobProgress.el)) {
      this.jobBadge = h("span");
      clear(this.jobLine).append(this.jobBadge, this.jobProgress.el, jobLink(job.id, "View the processing job"));
      this.jobLine.hidden = false;
    }
    this.jobBadge.replaceChildren(statusBadge(job.status));
    this.jobProgress.update(job);
    const message = (job.progress && job.progress.message) || (job.error && job.error.message) || "";
    this.jobMessage.hidden = !message;
    setText(this.jobMessage, message);
    this.ingestButton.disabled = job.status === "pending" || job.status === "active";
  }

  /** Feed events: follow our job's progress; any document-processing job's event may
   * have changed documents shown here, so the table is refetched. */
  event(event) {
    if (!this.body) return;
    const state = event.data && event.data.job;
    if (event.jobId === this.jobId && state) this.showJob(this.store.get(event.jobId) || { ...state, id: event.jobId });
    if (state && state.type === "document-processing") this.refreshSoon();
  }

  resumed() {
    if (this.body) this.refreshSoon();
  }

  async search(e) {
    e.preventDefault();
    const query = this.query.value.trim();
    if (!query) return;
    setText(this.searchNote, "Searching…");
    try {
      const answer = await this.api.send("POST", collectionPath(this.id, "/search"), { body: { query, k: HITS } });
      this.renderHits(answer.data);
    } catch (err) {
      clear(this.hits);
      setText(this.searchNote, `Search failed: ${err.message}`);
    }
  }

  renderHits(hits) {
    clear(this.hits);
    setText(this.searchNote, hits.length ? `${hits.length} closest passages` : "No hits: nothing in this collection is indexed yet.");
    for (const hit of hits) {
      this.hits.append(
        h(
          "li.hit",
          null,
          h(
            "div.hit-head",
            null,
            h("span.hit-doc", null, hit.filename || hit.documentId),
            h("span.hit-page", null, `page ${hit.page}`),
            h("span.hit-score", { title: "Cosine similarity to the query" }, `score ${hit.score.toFixed(3)}`),
          ),
          h("p.hit-text", null, hit.text),
        ),
      );
    }
  }
}
