// The run form's inputs, made from a pipeline spec's typed inputs: a text field for a
// string, a number field for a number or integer, a checkbox for a boolean, JSON text for
// an object or array; each starts at its default. One without a default is required. An
// input left empty that has a default is left out, so the API fills the default in.

import { clear, h } from "./dom.js";
import { label } from "./schema-form.js";

export class InputsForm {
  constructor({ idPrefix }) {
    this.prefix = idPrefix;
    this.fields = new Map(); // name -> {def, input, error}
    this.el = h("fieldset.pl-inputs");
  }

  show(inputs) {
    clear(this.el).append(h("legend", null, "Inputs"));
    this.fields.clear();
    const entries = Object.entries(inputs);
    if (!entries.length) this.el.append(h("p.muted", null, "This pipeline takes no inputs."));
    for (const [name, def] of entries) this.el.append(this.field(name, def));
  }

  field(name, def) {
    const type = def.type || "string";
    const id = `${this.prefix}-${name}`;
    const has = Object.prototype.hasOwnProperty.call(def, "default");
    const required = !has;
    const described = `${id}-hint ${id}-error`;
    let input;
    if (type === "boolean") {
      input = h("input", { id, type: "checkbox", checked: def.default === true, "aria-describedby": described });
    } else if (type === "object" || type === "array") {
      input = h("textarea.json-input", { id, rows: 3, spellcheck: false, required, "aria-describedby": described });
      input.value = has ? JSON.stringify(def.default) : "";
    } else {
      const number = type === "number" || type === "integer";
      input = h("input", { id, type: number ? "number" : "text", step: type === "integer" ? "1" : number ? "any" : null, required, autocomplete: "off", "aria-describedby": described });
      input.value = has && def.default != null ? String(def.default) : "";
    }
    const hint = [`${name}: ${type}${required ? ", required" : ""}`, def.description].filter(Boolean).join(" · ");
    const error = h("p.field-error", { id: `${id}-error`, hidden: true });
    this.fields.set(name, { def, type, has, input, error });
    return h(
      `div.field.pl-input${type === "boolean" ? ".pl-input-check" : ""}`,
      { dataset: { input: name } },
      h("label", { htmlFor: id }, `${label(name)}${required ? " *" : ""}`),
      input,
      h("span.hint", { id: `${id}-hint` }, hint),
      error,
    );
  }

  /** The inputs to send; throws naming the input whose JSON cannot be read. */
  value() {
    const out = {};
    for (const [name, f] of this.fields) {
      f.error.textContent = "";
      f.error.hidden = true;
      f.input.removeAttribute("aria-invalid");
      if (f.type === "boolean") {
        out[name] = f.input.checked;
        continue;
      }
      const text = f.input.value.trim();
      if (!text) continue; // its default applies (a required one, the browser asks for)
      if (f.type === "number" || f.type === "integer") out[name] = Number(text);
      else if (f.type === "object" || f.type === "array") {
        try {
          out[name] = JSON.parse(text);
        } catch (err) {
          this.flag(f, `Not JSON: ${err.message}`);
          throw new Error(`Input ${name} is not JSON: ${err.message}`);
        }
      } else out[name] = text;
    }
    return out;
  }

  /** The API's refusal ("inputs.rows: ...") shown under the input it names. */
  markErrors(message) {
    for (const [name, f] of this.fields) {
      const m = new RegExp(`(?:^|[;\\s])inputs\\.${name}: ([^;]+)`).exec(message);
      if (m) this.flag(f, m[1]);
    }
  }

  flag(f, text) {
    f.error.textContent = text;
    f.error.hidden = false;
    f.input.setAttribute("aria-invalid", "true");
  }
}
