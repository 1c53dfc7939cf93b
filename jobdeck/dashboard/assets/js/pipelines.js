// /pipelines[/<id>]: the organization's pipelines (name, latest version, updated, archived),
// one pipeline's versions, the spec editor (JSON or YAML text; each save is a new version,
// and the API's problems are listed beside it by step and field), archive, and Run with a
// form made from the spec's typed inputs. A run opens on its job page, which draws it.

import { clear, h, setText } from "./dom.js";
import { fullTime, shortTime } from "./format.js";
import { InputsForm } from "./pipeline-inputs.js";

const STARTER = {
  inputs: { rows: { type: "array", default: [1, 2, 3] } },
  steps: [{ id: "count", kind: "transform", expression: "length(@)", input: "${inputs.rows}" }],
  outputs: { n: "${steps.count.output}" },
};
const api = (id, rest = "") => `/api/pipelines/${encodeURIComponent(id)}${rest}`;
const when = (iso) => (iso ? h("time", { dateTime: iso, title: fullTime(iso) }, shortTime(iso)) : "–");
const pretty = (value) => JSON.stringify(value, null, 2);

/** "steps.embed.dependsOn" → ["embed", "dependsOn"]; a problem outside the steps → [null, field]. */
function stepOf(field) {
  const m = /^steps\.([A-Za-z_][A-Za-z0-9_-]*)(?:\.(.+))?$/.exec(field || "");
  return m ? [m[1], m[2] || "id"] : [null, field || "spec"];
}

export class PipelinesView {
  constructor({ id, api: client, toast, confirm, navigate }) {
    this.id = id || null;
    this.api = client;
    this.toast = toast;
    this.confirm = confirm;
    this.navigate = navigate;
    this.pipeline = null;
    this.versions = [];

    this.showArchived = h("input", { id: "pl-archived", type: "checkbox", onchange: () => this.loadList() });
    this.body = h("tbody");
    this.empty = h("p.empty", { hidden: true }, "No pipelines yet. Write one in the editor below.");
    this.listError = h("p.notice.notice-error", { role: "alert", hidden: true });

    this.selected = h("div.pl-selected");
    this.buildEditor();
    this.el = h(
      "div.page.page-pipelines",
      null,
      h(
        "div.page-head",
        null,
        h("h1", null, "Pipelines"),
        h("label.check.pl-archived", { htmlFor: "pl-archived" }, this.showArchived, " Show archived"),
        h("a.btn.btn-small.pl-new", { href: "/pipelines", dataset: { nav: "" } }, "New pipeline"),
      ),
      this.listError,
      h(
        "div.table-wrap",
        null,
        h(
          "table.datasets.pipelines",
          null,
          h("caption.visually-hidden", null, "Pipelines, newest first"),
          h("thead", null, h("tr", null, ["Name", "Latest version", "Updated", "State", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
          this.body,
        ),
        this.empty,
      ),
      this.selected,
      this.editor,
    );
  }

  buildEditor() {
    this.editorTitle = h("h2", { id: "pl-editor-title" }, "New pipeline");
    this.name = h("input", { id: "pl-name", type: "text", required: true, maxLength: 200, autocomplete: "off" });
    this.description = h("input", { id: "pl-description", type: "text", maxLength: 2000, autocomplete: "off" });
    this.nameField = h("div.field", null, h("label", { htmlFor: "pl-name" }, "Name"), this.name);
    this.spec = h("textarea.json-input.pl-spec", {
      id: "pl-spec",
      rows: 18,
      spellcheck: false,
      "aria-describedby": "pl-spec-hint pl-problems-title",
    });
    this.spec.value = pretty(STARTER);
    this.problemsNote = h("p.muted", { id: "pl-problems-note" }, "The API checks the spec when you save; what it refuses is listed here, by step and field.");
    this.problems = h("ul.pl-problems", { "aria-labelledby": "pl-problems-title" });
    this.save = h("button.btn.btn-primary", { type: "submit" }, "Save pipeline");
    this.formError = h("p.notice.notice-error", { role: "alert", hidden: true });
    this.editor = h(
      "form.card.pl-editor",
      { "aria-labelledby": "pl-editor-title", onsubmit: (e) => this.saveSpec(e) },
      this.editorTitle,
      h("div.upload-fields", null, this.nameField, h("div.field", null, h("label", { htmlFor: "pl-description" }, "Description"), this.description)),
      h(
        "div.pl-editor-grid",
        null,
        h(
          "div.field.pl-spec-field",
          null,
          h("label", { htmlFor: "pl-spec" }, "Spec (JSON or YAML)"),
          this.spec,
          h("span.hint", { id: "pl-spec-hint" }, "Inputs, steps and outputs; its JSON Schema is at GET /api/pipelines/schema."),
        ),
        h("section.pl-problems-box", { "aria-labelledby": "pl-problems-title" }, h("h3", { id: "pl-problems-title" }, "Problems"), this.problemsNote, this.problems),
      ),
      this.formError,
      h("div.form-actions", null, this.save),
    );
  }

  async start() {
    await Promise.all([this.loadList(), this.id ? this.loadPipeline() : null]);
  }

  destroy() {}

  event() {}

  async loadList() {
    try {
      const page = await this.api.send("GET", "/api/pipelines", { params: { limit: 200, archived: this.showArchived.checked || undefined } });
      this.listError.hidden = true;
      this.renderList(page.data);
    } catch (err) {
      this.listError.hidden = false;
      setText(this.listError, `Could not load the pipelines: ${err.message}`);
    }
  }

  renderList(pipelines) {
    clear(this.body);
    for (const p of pipelines) {
      const open = h("a", { href: `/pipelines/${encodeURIComponent(p.id)}`, dataset: { nav: "" }, "aria-current": p.id === this.id ? "page" : null }, p.name);
      this.body.append(
        h(
          "tr",
          { dataset: { id: p.id } },
          h("td", null, open, p.description ? h("div.job-desc", null, p.description) : null),
          h("td", null, `v${p.latestVersion}`),
          h("td", null, when(p.updatedAt)),
          h("td", null, h(`span.pl-state.pl-state-${p.archived ? "archived" : "active"}`, null, p.archived ? "archived" : "active")),
          h(
            "td.sc-actions",
            null,
            h("a.btn.btn-small", { href: `/pipelines/${encodeURIComponent(p.id)}`, dataset: { nav: "" }, "aria-label": `Open ${p.name}` }, "Open"),
            p.archived ? null : h("button.btn.btn-small.btn-danger", { type: "button", "aria-label": `Archive ${p.name}`, onclick: () => this.archive(p) }, "Archive"),
          ),
        ),
      );
    }
    this.empty.hidden = pipelines.length > 0;
  }

  async loadPipeline() {
    try {
      const [pipeline, versions] = await Promise.all([this.api.send("GET", api(this.id)), this.api.send("GET", api(this.id, "/versions"))]);
      this.pipeline = pipeline;
      this.versions = versions.data;
    } catch (err) {
      clear(this.selected).append(h("p.notice.notice-error", { role: "alert" }, err.status === 404 ? `There is no pipeline ${this.id}.` : `Could not load the pipeline: ${err.message}`));
      return;
    }
    document.title = `${this.pipeline.name} · Pipelines · jobdeck`;
    this.renderSelected();
    this.edit(this.pipeline.spec, this.pipeline.latestVersion);
  }

  renderSelected() {
    const p = this.pipeline;
    this.inputs = new InputsForm({ idPrefix: "pl-run" });
    this.version = h(
      "select",
      { id: "pl-run-version", onchange: () => this.showInputs() },
      this.versions.map((v) => h("option", { value: String(v.version) }, v.version === p.latestVersion ? `v${v.version} (latest)` : `v${v.version}`)),
    );
    this.runName = h("input", { id: "pl-run-name", type: "text", maxLength: 200, autocomplete: "off", placeholder: p.name });
    this.runError = h("p.notice.notice-error", { role: "alert", hidden: true });
    this.runButton = h("button.btn.btn-primary", { type: "submit", disabled: p.archived }, "Run");
    const versionRows = this.versions.map((v) =>
      h(
        "li.pl-version",
        null,
        h("strong", null, `v${v.version}`),
        " · ",
        when(v.createdAt),
        " · ",
        h("span.muted", null, `${v.spec.steps.length} step${v.spec.steps.length === 1 ? "" : "s"}`),
        " ",
        h("button.btn.btn-small.btn-quiet", { type: "button", "aria-label": `Open v${v.version} in the editor`, onclick: () => this.edit(v.spec, v.version) }, "Open in editor"),
      ),
    );
    clear(this.selected).append(
      h(
        "section.card.pl-pipeline",
        { "aria-labelledby": "pl-pipeline-title" },
        h(
          "div.card-head",
          null,
          h("h2", { id: "pl-pipeline-title" }, `Pipeline “${p.name}”`),
          h(
            "div.sc-actions",
            null,
            h("a.btn.btn-small", { href: `/?type=workflow-execution`, dataset: { nav: "" } }, "Runs"),
            p.archived ? null : h("button.btn.btn-small.btn-danger", { type: "button", onclick: () => this.archive(p) }, "Archive"),
          ),
        ),
        p.description ? h("p.muted", null, p.description) : null,
        p.archived ? h("p.notice", null, "Archived: it starts no runs. Save a new version to restore it.") : null,
        h(
          "div.pl-pipeline-grid",
          null,
          h("div", null, h("h3", null, "Versions"), h("ol.pl-versions", { reversed: true }, versionRows)),
          h(
            "form.pl-run",
            { "aria-labelledby": "pl-run-title", onsubmit: (e) => this.run(e) },
            h("h3", { id: "pl-run-title" }, "Run"),
            h(
              "div.upload-fields",
              null,
              h("div.field", null, h("label", { htmlFor: "pl-run-version" }, "Version"), this.version),
              h("div.field", null, h("label", { htmlFor: "pl-run-name" }, "Run name (optional)"), this.runName),
            ),
            this.inputs.el,
            this.runError,
            h("div.form-actions", null, this.runButton),
          ),
        ),
      ),
    );
    this.showInputs();
  }

  showInputs() {
    const chosen = this.versions.find((v) => String(v.version) === this.version.value);
    this.inputs.show(chosen ? chosen.spec.inputs || {} : {});
  }

  /** Put a spec in the editor: a new version of the pipeline shown starts from it. */
  edit(spec, version) {
    this.spec.value = pretty(spec);
    this.name.value = this.pipeline.name;
    this.description.value = this.pipeline.description || "";
    this.nameField.hidden = true;
    setText(this.editorTitle, `New version of “${this.pipeline.name}” (from v${version})`);
    setText(this.save, "Save new version");
    this.showProblems([]);
  }

  /** The spec as sent: an object when the text is JSON, else the text (the API reads YAML). */
  specValue() {
    const text = this.spec.value;
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }

  async saveSpec(e) {
    e.preventDefault();
    this.formError.hidden = true;
    this.save.disabled = true;
    const description = this.description.value.trim() || undefined;
    try {
      if (this.pipeline) {
        const version = await this.api.send("PUT", api(this.pipeline.id), { body: { spec: this.specValue(), description } });
        this.toast(`Saved v${version.version} of “${this.pipeline.name}”.`);
        this.navigate(`/pipelines/${encodeURIComponent(this.pipeline.id)}`, { replace: true });
      } else {
        const name = this.name.value.trim();
        const created = await this.api.send("POST", "/api/pipelines", { body: { name, description, spec: this.specValue() } });
        this.toast(`Pipeline “${created.name}” saved.`);
        this.navigate(`/pipelines/${encodeURIComponent(created.id)}`);
      }
    } catch (err) {
      if (err.status === 422 && err.errors.length) this.showProblems(err.errors);
      else {
        this.showProblems([]);
        this.formError.hidden = false;
        setText(this.formError, `Could not save: ${err.message}`);
      }
    } finally {
      this.save.disabled = false;
    }
  }

  /** The API's problems beside the editor, each naming its step and field. */
  showProblems(errors) {
    clear(this.problems);
    this.problemsNote.hidden = errors.length > 0;
    if (errors.length) this.spec.setAttribute("aria-invalid", "true");
    else this.spec.removeAttribute("aria-invalid");
    for (const problem of errors) {
      const [step, field] = stepOf(problem.field);
      const where = step
        ? [h("span.pl-problem-step", null, "Step ", h("code", null, step)), " · ", h("code.pl-problem-field", null, field)]
        : [h("code.pl-problem-field", null, field)];
      this.problems.append(
        h(
          "li.pl-problem",
          { dataset: { field: problem.field, step: step || "" } },
          h("div.pl-problem-where", null, where),
          h("div.pl-problem-message", null, problem.message),
          step ? h("button.btn.btn-small.btn-link", { type: "button", onclick: () => this.showStep(step) }, `Show step ${step} in the editor`) : null,
        ),
      );
    }
  }

  /** Select a step's id in the editor's text (JSON or YAML), so the fix starts there. */
  showStep(step) {
    const text = this.spec.value;
    const quoted = new RegExp(`(["']?)id\\1\\s*:\\s*["']?${step.replace(/[-]/g, "\\-")}["']?(?=[\\s,}]|$)`, "m");
    const found = quoted.exec(text);
    this.spec.focus();
    if (found) this.spec.setSelectionRange(found.index, found.index + found[0].length);
  }

  async archive(p) {
    const ok = await this.confirm(`Archive “${p.name}”?`, "It leaves the list and starts no new runs; its versions and runs stay. Saving a new version restores it.", "Archive it", "Keep it");
    if (!ok) return;
    try {
      await this.api.send("DELETE", api(p.id));
      this.toast(`Pipeline “${p.name}” archived.`);
      if (this.pipeline && this.pipeline.id === p.id) await this.loadPipeline();
      await this.loadList();
    } catch (err) {
      this.toast(`Could not archive: ${err.message}`, "error");
    }
  }

  async run(e) {
    e.preventDefault();
    this.runError.hidden = true;
    let inputs;
    try {
      inputs = this.inputs.value();
    } catch (err) {
      this.runError.hidden = false;
      setText(this.runError, err.message);
      return;
    }
    const body = { inputs, version: Number(this.version.value) };
    if (this.runName.value.trim()) body.name = this.runName.value.trim();
    this.runButton.disabled = true;
    try {
      const job = await this.api.send("POST", api(this.pipeline.id, "/run"), { body });
      this.navigate(`/jobs/${encodeURIComponent(job.id)}`);
    } catch (err) {
      this.runError.hidden = false;
      setText(this.runError, `Could not start the run: ${err.message}`);
      this.inputs.markErrors(err.message);
    } finally {
      this.runButton.disabled = false;
    }
  }
}
