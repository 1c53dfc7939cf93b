// Filters live in the URL (?q=&status=&type=, and the operator's created_after=
// &created_before=&priority=&owner=&sort=), so a view can be shared and survives a reload;
// the form reads them from there and writes them back with replaceState.

import { h } from "./dom.js";
import { STATUS_LABEL, STATUSES } from "./format.js";
import { EXTRA_KEYS, ExtraFilters, hasExtras, matchesExtras, readExtras } from "./list-extras.js";

const SEARCH_DEBOUNCE_MS = 200;

export function readFilters(search = location.search) {
  const params = new URLSearchParams(search);
  // One status or several, comma-separated (?status=pending,active), as the API takes them.
  const status = [...new Set((params.get("status") || "").split(",").map((s) => s.trim()))]
    .filter((s) => STATUSES.includes(s))
    .join(",");
  return {
    q: (params.get("q") || "").trim(),
    status,
    type: params.get("type") || "",
    ...readExtras(params),
  };
}

export function filtersQuery(filters) {
  const params = new URLSearchParams();
  if (filters.q) params.set("q", filters.q);
  if (filters.status) params.set("status", filters.status);
  if (filters.type) params.set("type", filters.type);
  for (const key of EXTRA_KEYS) if (filters[key]) params.set(key, filters[key]);
  const text = params.toString();
  return text ? `?${text}` : "";
}

export function writeFilters(filters) {
  const url = `${location.pathname}${filtersQuery(filters)}`;
  if (url !== `${location.pathname}${location.search}`) history.replaceState(history.state, "", url);
}

export function isFiltered(filters) {
  return Boolean(filters.q || filters.status || filters.type || hasExtras(filters));
}

/** Does a job match the filters? (Search also looks at the description, when known.) */
export function matches(job, filters) {
  if (filters.status && !filters.status.split(",").includes(job.status)) return false;
  if (filters.type && job.type !== filters.type) return false;
  if (!matchesExtras(job, filters)) return false;
  if (filters.q) {
    const needle = filters.q.toLowerCase();
    const hay = [job.name, job.description || "", job.type].join("\n").toLowerCase();
    if (!hay.includes(needle)) return false;
  }
  return true;
}

export class FilterForm {
  constructor({ filters, onChange }) {
    this.onChange = onChange;
    this.timer = null;
    this.q = h("input", {
      id: "f-q",
      type: "search",
      name: "q",
      placeholder: "Name, description or type",
      autocomplete: "off",
      spellcheck: false,
    });
    this.status = h(
      "select",
      { id: "f-status", name: "status" },
      h("option", { value: "" }, "All statuses"),
      STATUSES.map((s) => h("option", { value: s }, STATUS_LABEL[s])),
    );
    this.type = h("select", { id: "f-type", name: "type" }, h("option", { value: "" }, "All types"));
    this.clearButton = h("button.btn.btn-quiet", { type: "button" }, "Clear filters");
    this.extras = new ExtraFilters({ onChange: () => this.changed() });
    this.el = h(
      "form.filters",
      { role: "search", "aria-label": "Filter jobs" },
      h("div.field.field-search", null, h("label", { htmlFor: "f-q" }, "Search"), this.q),
      h("div.field", null, h("label", { htmlFor: "f-status" }, "Status"), this.status),
      h("div.field", null, h("label", { htmlFor: "f-type" }, "Type"), this.type),
      this.extras.fields,
      h("div.field.field-end", null, this.clearButton),
    );
    this.set(filters);
    this.q.addEventListener("input", () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.changed(), SEARCH_DEBOUNCE_MS);
    });
    this.el.addEventListener("submit", (e) => {
      e.preventDefault();
      this.changed();
    });
    this.status.addEventListener("change", () => this.changed());
    this.type.addEventListener("change", () => this.changed());
    this.clearButton.addEventListener("click", () => {
      this.set({ q: "", status: "", type: "", ...readExtras(new URLSearchParams()), sort: this.extras.sort });
      this.changed();
    });
  }

  setTypes(types) {
    const current = this.type.value;
    for (const option of [...this.type.options].slice(1)) option.remove();
    const names = new Set(types.map((t) => t.name));
    if (current) names.add(current);
    for (const name of [...names].sort()) this.type.append(h("option", { value: name }, name));
    this.type.value = current;
  }

  set(filters) {
    this.q.value = filters.q;
    if (filters.status && ![...this.status.options].some((o) => o.value === filters.status))
      this.status.append(
        h("option", { value: filters.status }, filters.status.split(",").map((s) => STATUS_LABEL[s] || s).join(" or ")),
      );
    this.status.value = filters.status;
    if (filters.type && ![...this.type.options].some((o) => o.value === filters.type))
      this.type.append(h("option", { value: filters.type }, filters.type));
    this.type.value = filters.type;
    this.extras.set(filters);
    this.clearButton.hidden = !isFiltered(filters);
  }

  value() {
    return { q: this.q.value.trim(), status: this.status.value, type: this.type.value, ...this.extras.value() };
  }

  changed() {
    clearTimeout(this.timer);
    const filters = this.value();
    this.clearButton.hidden = !isFiltered(filters);
    this.onChange(filters);
  }
}
