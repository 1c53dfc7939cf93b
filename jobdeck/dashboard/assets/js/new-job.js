// Start any job from the page (/new-job?type=): the type's input form is generated from
// its JSON Schema (GET /api/jobs/types, see schema-form.js), with the job's name,
// description and priority; "Edit as JSON" shows the same data as text. With ?from=<job id>
// the form starts from a job's type and input: re-run it with the input edited.

import { h, setText } from "./dom.js";
import { SchemaForm } from "./schema-form.js";

const DATASET_FIELD = /(^|[a-z])datasetId$/i;

export class NewJobView {
  constructor({ api, navigate }) {
    this.api = api;
    this.navigate = navigate;
    const params = new URLSearchParams(location.search);
    this.wantedType = params.get("type") || "";
    this.fromId = params.get("from") || "";
    this.type = h("select", { id: "nj-type", name: "type", required: true });
    this.typeHelp = h("p.muted.type-help", { id: "nj-type-help" });
    this.name = h("input", { id: "nj-name", name: "name", required: true, maxLength: 200, autocomplete: "off" });
    this.description = h("input", { id: "nj-description", name: "description", maxLength: 2000, autocomplete: "off" });
    this.priority = h("select", { id: "nj-priority", name: "priority" }, [1, 2, 3, 4, 5].map((p) => h("option", { value: String(p) }, `${p}${p === 1 ? " (runs first)" : p === 5 ? " (runs last)" : ""}`)));
    this.priority.value = "3";
    this.formSlot = h("div.schema-slot");
    this.json = h("textarea.json-input", { id: "nj-json", rows: 12, spellcheck: false, "aria-label": "Input as JSON", "aria-describedby": "nj-json-hint" });
    // The click, not the toggle event: toggle is fired a task later, and text typed in
    // between (the box is open and editable at once) would be replaced by the form's value.
    this.jsonBox = h(
      "details.json-box",
      { ontoggle: () => (this.formSlot.hidden = this.jsonBox.open) },
      h("summary", { onclick: () => this.togglingJson(!this.jsonBox.open) }, "Edit as JSON"),
      h("p.muted", { id: "nj-json-hint" }, "The input as sent; while open, this text is what is sent."),
      this.json,
    );
    this.error = h("p.notice.notice-error", { role: "alert", hidden: true });
    this.submit = h("button.btn.btn-primary", { type: "submit" }, "Start the job");
    this.from = h("p.muted.rerun-of", { hidden: true });
    const field = (id, text, input) => h("div.field", null, h("label", { htmlFor: id }, text), input);
    this.title = h("h1", null, "New job");
    this.el = h(
      "div.page.page-new-job",
      null,
      h("div.page-head", null, this.title),
      this.from,
      h(
        "form.card.new-job",
        { "aria-labelledby": "nj-form-title", onsubmit: (e) => this.startJob(e) },
        h("h2.visually-hidden", { id: "nj-form-title" }, "Job"),
        h("div.new-job-head", null, field("nj-type", "Type", this.type), field("nj-name", "Name *", this.name), field("nj-description", "Description", this.description), field("nj-priority", "Priority", this.priority)),
        this.typeHelp,
        h("h2", null, "Input"),
        this.formSlot,
        this.jsonBox,
        this.error,
        h("div.form-actions", null, this.submit),
      ),
    );
    this.type.addEventListener("change", () => this.showType(this.type.value));
    // Shown once the type's form is built: JSON typed before would be replaced by it.
    this.jsonBox.hidden = true;
  }

  async start() {
    try {
      const [all, from] = await Promise.all([this.api.types(), this.fromId ? this.api.job(this.fromId) : null]);
      const types = all.filter((t) => t.startable !== false); // jobdeck starts the others itself
      this.types = new Map(types.map((t) => [t.name, t]));
      this.datasets = await this.api.datasets({ limit: 200 }).then((page) => page.data, () => []);
      this.type.replaceChildren(...types.map((t) => h("option", { value: t.name }, t.name)));
      const initial = from ? from.type : this.types.has(this.wantedType) ? this.wantedType : types[0] && types[0].name;
      this.type.value = initial;
      this.showType(initial);
      if (from) this.prefill(from);
      this.jsonBox.hidden = false;
    } catch (err) {
      this.fail(err.status === 404 ? `The job ${this.fromId} was not found.` : `Could not load the job types: ${err.message}`);
    }
  }

  destroy() {}

  event() {}

  prefill(job) {
    setText(this.title, `Re-run “${job.name}”`);
    this.from.hidden = false;
    this.from.replaceChildren("With the input of ", h("a", { href: `/jobs/${encodeURIComponent(job.id)}`, dataset: { nav: "" } }, job.name), ", to edit before it starts as a new job.");
    this.name.value = `${job.name} (re-run)`.slice(0, 200);
    this.description.value = job.description || "";
    this.priority.value = String(job.priority || 3);
    this.form.set(job.data);
  }

  showType(name) {
    const type = this.types.get(name);
    if (!type) return;
    setText(this.typeHelp, type.description);
    this.form = new SchemaForm(type.inputSchema || {}, { hints: (path, schema) => this.hint(path, schema) });
    this.formSlot.replaceChildren(this.form.el);
    if (this.jsonBox.open) this.json.value = JSON.stringify(this.safeValue(), null, 2);
    const url = `${location.pathname}?type=${encodeURIComponent(name)}${this.fromId ? `&from=${encodeURIComponent(this.fromId)}` : ""}`;
    history.replaceState(history.state, "", url);
  }

  /** A dataset id field offers the organization's datasets. */
  hint(path, schema) {
    const name = path[path.length - 1] || "";
    if (schema.type !== "string" || !DATASET_FIELD.test(name) || !this.datasets) return null;
    return { options: this.datasets.map((d) => [d.id, `${d.name} (${d.format})`]) };
  }

  safeValue() {
    try {
      return this.form.value();
    } catch {
      return {};
    }
  }

  togglingJson(opening) {
    if (opening) {
      this.json.value = JSON.stringify(this.safeValue(), null, 2);
      this.formSlot.hidden = true;
    } else {
      try {
        this.form.set(JSON.parse(this.json.value || "{}"));
      } catch {
        // unreadable text: the form keeps what it had
      }
      this.formSlot.hidden = false;
    }
  }

  fail(message) {
    this.error.hidden = false;
    setText(this.error, message);
  }

  create(data) {
    return this.api.createJob({
      type: this.type.value,
      name: this.name.value.trim(),
      description: this.description.value.trim() || null,
      priority: Number(this.priority.value),
      data,
    });
  }

  async startJob(e) {
    e.preventDefault();
    this.error.hidden = true;
    let data;
    try {
      data = this.jsonBox.open ? JSON.parse(this.json.value || "{}") : this.form.value();
    } catch (err) {
      this.fail(this.jsonBox.open ? "The JSON input cannot be read: check its quotes and commas." : err.message);
      return;
    }
    this.submit.disabled = true;
    try {
      const job = await this.create(data);
      this.navigate(`/jobs/${encodeURIComponent(job.id)}`);
    } catch (err) {
      this.fail(`Could not start the job: ${err.message}`);
      this.submit.disabled = false;
    }
  }
}
