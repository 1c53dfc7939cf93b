// A form generated from a JSON Schema (a job type's input, as pydantic writes it): objects
// become fieldsets, strings text inputs (selects for enums), numbers number inputs with
// their bounds, booleans checkboxes, lists of plain values comma-separated text, and
// anything richer (lists of objects, open maps, unions of objects) a JSON text area.
// Optional fields (anyOf with null) left empty are left out, so the type's defaults apply.
// value() gives the data to send; errors are the API's, shown by the page.

import { h } from "./dom.js";

let uid = 0;

/** camelCase or snake_case to words: datasetId → "Dataset id". */
export function label(name) {
  const words = name.replace(/_/g, " ").replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function resolve(schema, root) {
  let s = schema || {};
  for (let i = 0; s.$ref && i < 20; i += 1) {
    const path = s.$ref.replace(/^#\//, "").split("/");
    const found = path.reduce((node, key) => (node ? node[key] : undefined), root);
    s = { ...(found || {}), ...Object.fromEntries(Object.entries(s).filter(([k]) => k !== "$ref")) };
  }
  return s;
}

/** A schema without its `null` alternative, and whether null was allowed. */
function unwrapNullable(schema, root) {
  const s = resolve(schema, root);
  const options = s.anyOf || s.oneOf;
  if (!options) return [s, false];
  const rest = options.filter((o) => resolve(o, root).type !== "null");
  if (rest.length === options.length) return [s, false];
  const merged = rest.length === 1 ? { ...resolve(rest[0], root), ...pick(s) } : { ...s, anyOf: rest, oneOf: undefined };
  return [merged, true];
}

const pick = (s) => Object.fromEntries(["title", "description", "default"].filter((k) => k in s).map((k) => [k, s[k]]));

function kindOf(s, root) {
  if (s.enum || s.const !== undefined) return "enum";
  if (s.anyOf || s.oneOf) return "json";
  if (s.type === "string") return "string";
  if (s.type === "integer" || s.type === "number") return "number";
  if (s.type === "boolean") return "boolean";
  if (s.type === "object" && s.properties) return "object";
  if (s.type === "array") {
    const items = resolve(s.items, root);
    if (items.enum || ["string", "integer", "number"].includes(items.type)) return "list";
  }
  return "json";
}

class Field {
  constructor({ name, schema, root, required, path, hints, inOptional = false }) {
    const [s, nullable] = unwrapNullable(schema, root);
    this.name = name;
    this.schema = s;
    this.root = root;
    this.path = path;
    this.required = required;
    this.optional = nullable || !required;
    // Inside an optional object a required field is required only once the object is
    // given: the browser does not insist, the API says what is missing.
    this.native = !this.optional && !inOptional;
    this.inOptional = inOptional;
    this.kind = kindOf(s, root);
    this.id = `sf-${(uid += 1)}`;
    this.hintsFn = hints;
    this.build(hints && hints(path, s));
  }

  build(hint) {
    const s = this.schema;
    const help = s.description ? h("span.field-hint", { id: `${this.id}-hint` }, s.description) : null;
    const described = help ? { "aria-describedby": `${this.id}-hint` } : {};
    if (this.kind === "object") {
      this.children = Object.entries(s.properties).map(
        ([name, child]) =>
          new Field({
            name,
            schema: child,
            root: this.root,
            required: (s.required || []).includes(name),
            path: [...this.path, name],
            hints: this.hintsFn,
            inOptional: this.inOptional || this.optional,
          }),
      );
      this.el = h("fieldset.schema-object", { dataset: { path: this.path.join(".") } }, h("legend", null, label(this.name)), help, this.children.map((c) => c.el));
      return;
    }
    if (this.kind === "enum") {
      const values = s.enum || [s.const];
      this.input = h(
        "select",
        { id: this.id, name: this.path.join("."), ...described },
        this.optional ? h("option", { value: "" }, s.default != null ? `Default (${s.default})` : "–") : null,
        values.map((v) => h("option", { value: String(v) }, String(v))),
      );
      if (!this.optional && s.default != null) this.input.value = String(s.default);
    } else if (this.kind === "boolean") {
      this.input = h("input", { id: this.id, type: "checkbox", name: this.path.join("."), checked: s.default === true, ...described });
    } else if (this.kind === "number") {
      this.input = h("input", {
        id: this.id,
        type: "number",
        name: this.path.join("."),
        min: s.minimum ?? s.exclusiveMinimum,
        max: s.maximum ?? s.exclusiveMaximum,
        step: s.type === "integer" ? "1" : "any",
        placeholder: s.default != null ? String(s.default) : "",
        required: this.native && s.default == null,
        ...described,
      });
    } else if (this.kind === "string" || this.kind === "list") {
      const list = this.kind === "list";
      this.input = h("input", {
        id: this.id,
        type: "text",
        name: this.path.join("."),
        maxLength: list ? undefined : s.maxLength,
        placeholder: list ? "comma-separated" : s.default != null ? String(s.default) : "",
        required: this.native && s.default == null && !list,
        autocomplete: "off",
        spellcheck: false,
        ...described,
      });
      if (hint && hint.options) {
        const listId = `${this.id}-options`;
        this.input.setAttribute("list", listId);
        this.options = h("datalist", { id: listId }, hint.options.map(([value, text]) => h("option", { value }, text)));
      }
    } else {
      this.input = h("textarea.json-input", { id: this.id, name: this.path.join("."), rows: 3, spellcheck: false, placeholder: "JSON", ...described });
    }
    this.el = h(`div.field.schema-field.schema-${this.kind}`, null, h("label", { htmlFor: this.id }, label(this.name) + (this.required ? " *" : "")), this.input, this.options, help);
    if (this.required) this.input.setAttribute("aria-required", "true");
  }

  /** Put a value in (a job's input, to edit and run again). */
  set(value) {
    if (this.kind === "object") {
      for (const child of this.children) child.set(value && typeof value === "object" ? value[child.name] : undefined);
      return;
    }
    if (value === undefined || value === null) {
      if (this.kind === "boolean") this.input.checked = this.schema.default === true;
      else this.input.value = "";
      return;
    }
    if (this.kind === "boolean") this.input.checked = Boolean(value);
    else if (this.kind === "list") this.input.value = Array.isArray(value) ? value.join(", ") : String(value);
    else if (this.kind === "json") this.input.value = JSON.stringify(value, null, 2);
    else this.input.value = String(value);
  }

  /** [present, value]; throws Error with a message naming the field for unreadable JSON. */
  value() {
    if (this.kind === "object") {
      const out = {};
      for (const child of this.children) {
        const [present, v] = child.value();
        if (present) out[child.name] = v;
      }
      return [Object.keys(out).length > 0 || !this.optional, out];
    }
    if (this.kind === "boolean") return [this.input.checked !== (this.schema.default === true) || !this.optional, this.input.checked];
    const raw = this.input.value.trim();
    if (raw === "") return [false, undefined];
    if (this.kind === "number") return [true, Number(raw)];
    if (this.kind === "list") {
      const items = raw.split(",").map((x) => x.trim()).filter(Boolean);
      const itemType = resolve(this.schema.items, this.root).type;
      return [true, itemType === "integer" || itemType === "number" ? items.map(Number) : items];
    }
    if (this.kind === "enum") {
      const values = this.schema.enum || [this.schema.const];
      return [true, values.find((v) => String(v) === raw) ?? raw];
    }
    if (this.kind === "json") {
      try {
        return [true, JSON.parse(raw)];
      } catch {
        throw new Error(`${this.path.join(".")}: not valid JSON`);
      }
    }
    return [true, this.input.value];
  }
}

/** The form of one schema; `hints(path, schema)` may offer choices for a field (e.g. the
 * organization's datasets for a dataset id). */
export class SchemaForm {
  constructor(schema, { hints } = {}) {
    const root = { ...schema, type: "object", properties: schema.properties || {} };
    this.root = new Field({ name: "input", schema: root, root: schema, required: true, path: [], hints });
    this.el = this.root.el;
    this.el.classList.add("schema-root");
  }

  set(data) {
    this.root.set(data || {});
  }

  /** The data to send (throws Error naming a field whose JSON cannot be read). */
  value() {
    return this.root.value()[1];
  }
}
