// A model's card, on a fine-tune's page and on the model's own: its facts and, for a LoRA
// adapter trained here, its files (downloaded with the API key) and publishing it to
// Ollama (a `model-publish` job, followed live).

import { append, clear, h, saveBlob, setText } from "./dom.js";
import { bytes, number, TERMINAL } from "./format.js";
import { fact, hintedField, jobHref, link, lossText, modelHref, optionsText } from "./fine-tuning-shared.js";
import { ProgressView, statusBadge } from "./table.js";

let panels = 0; // numbers the ids of each panel's fields
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
    this.form = h(
      "form.publish-form",
      { "aria-labelledby": `${uid}-publish`, onsubmit: (e) => this.publish(e) },
      h("h3", { id: `${uid}-publish` }, "Publish to Ollama"),
      h("div.upload-fields", null, [
        hintedField(this.base, "Ollama base model", "the model the adapter was trained on, as Ollama names it"),
        hintedField(this.name, "Name in Ollama (optional)", "default: this model's name"),
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
      saveBlob(await this.api.file(url), name);
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
