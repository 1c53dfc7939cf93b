// /fine-tuning/models/<id>: one model with its lineage (the dataset, the fine-tune or the
// adapter it was published from, its background job) and, for a LoRA adapter trained
// here, its files and publishing (model-panel.js).

import { append, h, setText } from "./dom.js";
import { fullTime } from "./format.js";
import { datasetHref, fact, fineTuneHref, jobHref, link, modelHref } from "./fine-tuning-shared.js";
import { ModelPanel } from "./model-panel.js";

export class ModelView {
  constructor({ id, api, store, toast }) {
    this.id = id;
    this.api = api;
    this.panel = new ModelPanel({ api, store, toast });
    this.title = h("h1.detail-title", { tabIndex: -1 }, "Loading model…");
    this.el = h("div.page.page-model", null, h("a.back", { href: "/fine-tuning", dataset: { nav: "" } }, "← Fine-tuning"), this.title);
  }

  /** The model-publish job this page follows (the store keeps it). */
  jobIds() {
    return [this.panel.publishJob];
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
          h("dl.facts", null, fact("Name", h("code.job-id", null, m.name)), fact("Provider", m.providerLabel || m.provider), fact("Base model", m.baseModel), fact("Created", fullTime(m.createdAt))),
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
