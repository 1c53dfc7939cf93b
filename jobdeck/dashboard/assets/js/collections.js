// /collections (issue 13): the organization's document collections, and the form that
// creates one (its name, embedding provider and model, chunk sizes). A collection's own
// page (upload, process, the documents table, search) is collection.js.

import { clear, h, setText } from "./dom.js";
import { fullTime, number, shortTime } from "./format.js";

const PAGE_SIZE = 50;
// The API's defaults (api/collection_schemas.py), shown as each provider's placeholder.
export const PROVIDERS = [
  ["local", "Local (offline)", "all-MiniLM-L6-v2"],
  ["openai", "OpenAI", "text-embedding-3-small"],
  ["ollama", "Ollama", "nomic-embed-text"],
];
const NO_COLLECTIONS = "No collections yet. Create one above, then upload documents to it.";

export const collectionPath = (id, action = "") => `/api/collections/${encodeURIComponent(id)}${action}`;

export function collectionLink(id, label) {
  return h("a", { href: `/collections/${encodeURIComponent(id)}`, dataset: { nav: "" } }, label);
}

export const embeddingText = (e) => `${e.provider} · ${e.model}${e.dimensions ? ` (${number(e.dimensions)} dimensions)` : ""}`;
export const chunkingText = (c) => `${number(c.maxTokens)} tokens, ${number(c.overlap)} overlap`;

export class CollectionsView {
  constructor({ api, toast, navigate }) {
    this.api = api;
    this.toast = toast;
    this.navigate = navigate;
    this.cursors = [null];
    this.nextCursor = null;

    this.name = h("input", { id: "co-name", type: "text", required: true, maxLength: 200, autocomplete: "off" });
    this.provider = h(
      "select",
      { id: "co-provider", onchange: () => this.showDefaultModel() },
      PROVIDERS.map(([value, label]) => h("option", { value }, label)),
    );
    this.model = h("input", { id: "co-model", type: "text", maxLength: 200, autocomplete: "off", spellcheck: false });
    this.maxTokens = h("input", { id: "co-max-tokens", type: "number", min: 16, max: 8192, step: 1, value: 256, required: true });
    this.overlap = h("input", { id: "co-overlap", type: "number", min: 0, step: 1, value: 32, required: true });
    this.submit = h("button.btn.btn-primary", { type: "submit" }, "Create collection");
    this.formError = h("p.notice.notice-error", { role: "alert", hidden: true });
    const field = (id, label, input) => h("div.field", null, h("label", { htmlFor: id }, label), input);
    const form = h(
      "form.upload",
      { "aria-labelledby": "co-form-title", onsubmit: (e) => this.create(e) },
      h("h2", { id: "co-form-title" }, "New collection"),
      h(
        "div.upload-fields",
        null,
        field("co-name", "Name", this.name),
        field("co-provider", "Embedding provider", this.provider),
        field("co-model", "Embedding model", this.model),
        field("co-max-tokens", "Tokens per chunk", this.maxTokens),
        field("co-overlap", "Overlap (tokens)", this.overlap),
        h("div.field.field-end", null, this.submit),
      ),
      this.formError,
    );
    this.showDefaultModel();

    this.body = h("tbody");
    this.empty = h("p.empty", { hidden: true }, NO_COLLECTIONS);
    this.error = h("p.notice.notice-error", { role: "alert", hidden: true });
    this.prev = h("button.btn.btn-small", { type: "button", disabled: true, onclick: () => this.page(-1) }, "Newer");
    this.next = h("button.btn.btn-small", { type: "button", disabled: true, onclick: () => this.page(1) }, "Older");
    this.el = h(
      "div.page.page-collections",
      null,
      h("div.page-head", null, h("h1", null, "Collections")),
      h("section.card", null, form),
      this.error,
      h(
        "div.table-wrap",
        null,
        h(
          "table.datasets.collections",
          null,
          h("caption.visually-hidden", null, "Collections, newest first"),
          h("thead", null, h("tr", null, ["Name", "Embedding", "Chunking", "Created"].map((t) => h("th", { scope: "col" }, t)))),
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

  destroy() {}

  event() {}

  showDefaultModel() {
    const [, , model] = PROVIDERS.find(([value]) => value === this.provider.value);
    this.model.placeholder = `default: ${model}`;
  }

  async load() {
    try {
      const params = { limit: PAGE_SIZE, cursor: this.cursors[this.cursors.length - 1] };
      const answer = await this.api.send("GET", "/api/collections", { params });
      this.error.hidden = true;
      this.render(answer.data);
      this.nextCursor = answer.nextCursor;
    } catch (err) {
      this.error.hidden = false;
      setText(this.error, `Could not load collections: ${err.message}`);
    }
    this.prev.disabled = this.cursors.length === 1;
    this.next.disabled = !this.nextCursor;
  }

  render(collections) {
    clear(this.body);
    for (const c of collections) {
      this.body.append(
        h(
          "tr",
          { dataset: { id: c.id } },
          h("td", null, collectionLink(c.id, c.name)),
          h("td", null, embeddingText(c.embedding)),
          h("td", null, chunkingText(c.chunking)),
          h("td", null, h("time", { dateTime: c.createdAt, title: fullTime(c.createdAt) }, shortTime(c.createdAt))),
        ),
      );
    }
    this.empty.hidden = collections.length > 0;
  }

  page(step) {
    if (step > 0 && this.nextCursor) this.cursors.push(this.nextCursor);
    else if (step < 0 && this.cursors.length > 1) this.cursors.pop();
    else return;
    this.load();
  }

  async create(e) {
    e.preventDefault();
    this.formError.hidden = true;
    const model = this.model.value.trim();
    const body = {
      name: this.name.value.trim(),
      embedding: { provider: this.provider.value, ...(model ? { model } : {}) },
      chunking: { maxTokens: Number(this.maxTokens.value), overlap: Number(this.overlap.value) },
    };
    this.submit.disabled = true;
    try {
      const collection = await this.api.send("POST", "/api/collections", { body });
      this.toast(`Created the collection “${collection.name}”.`);
      this.navigate(`/collections/${encodeURIComponent(collection.id)}`);
    } catch (err) {
      this.formError.hidden = false;
      setText(this.formError, `Could not create the collection: ${err.message}`);
    } finally {
      this.submit.disabled = false;
    }
  }
}
