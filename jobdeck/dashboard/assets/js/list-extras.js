// The jobs list's operator controls: a range of creation times, priority and owner
// filters, sortable Status / Duration / Created headers, and the count of a filtered list.
// They ride in the URL with the other filters (filters.js), named as GET /api/jobs names
// them: ?created_after= &created_before= (ISO, UTC) &priority= &owner= &sort=.

import { h, setText } from "./dom.js";
import { number } from "./format.js";

export const EXTRA_KEYS = ["created_after", "created_before", "priority", "owner", "sort"];
const SORTS = ["created", "-created", "duration", "-duration", "status", "-status"];
export const DEFAULT_SORT = "-created";

function isoOrEmpty(text) {
  if (!text) return "";
  const when = new Date(text);
  return Number.isNaN(when.getTime()) ? "" : when.toISOString();
}

/** The operator filters of a URL's query (unknown values dropped, as the API would refuse). */
export function readExtras(params) {
  const priority = params.get("priority") || "";
  const sort = params.get("sort") || "";
  return {
    created_after: isoOrEmpty(params.get("created_after")),
    created_before: isoOrEmpty(params.get("created_before")),
    priority: /^[1-5]$/.test(priority) ? priority : "",
    owner: (params.get("owner") || "").slice(0, 36),
    sort: SORTS.includes(sort) && sort !== DEFAULT_SORT ? sort : "",
  };
}

/** Filters beyond status, type and search (the sort is an order, not a filter). */
export function hasExtras(filters) {
  return Boolean(filters.created_after || filters.created_before || filters.priority || filters.owner);
}

/** Rows cannot be placed by the page itself (another order, or filters events do not
 * carry): the API places them. */
export function needsApi(filters) {
  return hasExtras(filters) || Boolean(filters.sort);
}

/** Does a job (a full record) match the operator filters? Unknown fields do not exclude. */
export function matchesExtras(job, filters) {
  if (filters.priority && job.priority != null && String(job.priority) !== filters.priority) return false;
  if (filters.owner && filters.owner !== "me" && job.owner && job.owner.userId !== filters.owner) return false;
  if (job.createdAt) {
    const created = Date.parse(job.createdAt);
    if (filters.created_after && created < Date.parse(filters.created_after)) return false;
    if (filters.created_before && created >= Date.parse(filters.created_before)) return false;
  }
  return true;
}

/** GET /api/jobs parameters for the operator filters (count asked for a filtered list). */
export function extraParams(filters, filtered) {
  const params = {};
  for (const key of EXTRA_KEYS) if (filters[key]) params[key] = filters[key];
  if (filtered) params.count = "true";
  return params;
}

/** ISO (UTC) to a datetime-local input's value, in the browser's time zone. */
function toLocalInput(iso) {
  if (!iso) return "";
  const when = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}T${pad(when.getHours())}:${pad(when.getMinutes())}`;
}

/** The form's extra fields: created after / before, priority, owner. */
export class ExtraFilters {
  constructor({ onChange }) {
    this.after = h("input", { id: "f-after", type: "datetime-local", name: "created_after" });
    this.before = h("input", { id: "f-before", type: "datetime-local", name: "created_before" });
    this.priority = h(
      "select",
      { id: "f-priority", name: "priority" },
      h("option", { value: "" }, "Any priority"),
      [1, 2, 3, 4, 5].map((p) => h("option", { value: String(p) }, `${p}${p === 1 ? " (first)" : p === 5 ? " (last)" : ""}`)),
    );
    this.owner = h(
      "select",
      { id: "f-owner", name: "owner" },
      h("option", { value: "" }, "Anyone's"),
      h("option", { value: "me" }, "Mine"),
    );
    this.sort = "";
    const field = (id, label, input) => h("div.field", null, h("label", { htmlFor: id }, label), input);
    this.fields = [
      field("f-after", "Created after", this.after),
      field("f-before", "Created before", this.before),
      field("f-priority", "Priority", this.priority),
      field("f-owner", "Owner", this.owner),
    ];
    for (const input of [this.after, this.before, this.priority, this.owner]) input.addEventListener("change", () => onChange());
  }

  set(filters) {
    this.after.value = toLocalInput(filters.created_after);
    this.before.value = toLocalInput(filters.created_before);
    this.priority.value = filters.priority || "";
    if (filters.owner && ![...this.owner.options].some((o) => o.value === filters.owner))
      this.owner.append(h("option", { value: filters.owner }, `User ${filters.owner.slice(0, 8)}…`));
    this.owner.value = filters.owner || "";
    this.sort = filters.sort || "";
  }

  value() {
    return {
      created_after: isoOrEmpty(this.after.value),
      created_before: isoOrEmpty(this.before.value),
      priority: this.priority.value,
      owner: this.owner.value,
      sort: this.sort,
    };
  }
}

const SORT_LABEL = { created: "Created", duration: "Duration", status: "Status" };

/** Sortable column headers: a button in each of the table's Status, Duration and Created
 * headers; a click sorts by it (descending first), a second click flips the direction. */
export class SortHeaders {
  constructor(headers, onSort) {
    this.buttons = {};
    this.headers = headers;
    for (const [key, th] of Object.entries(headers)) {
      const button = h("button.sort-button", { type: "button", onclick: () => onSort(this.next(key)) }, SORT_LABEL[key], h("span.sort-mark", { "aria-hidden": "true" }));
      th.replaceChildren(button);
      this.buttons[key] = button;
    }
    this.current = DEFAULT_SORT;
  }

  next(key) {
    const [currentKey, descending] = [this.current.replace(/^-/, ""), this.current.startsWith("-")];
    const sort = currentKey === key ? (descending ? key : `-${key}`) : `-${key}`;
    return sort === DEFAULT_SORT ? "" : sort;
  }

  show(sort) {
    this.current = sort || DEFAULT_SORT;
    const key = this.current.replace(/^-/, "");
    const descending = this.current.startsWith("-");
    for (const [name, th] of Object.entries(this.headers)) {
      const on = name === key;
      if (on) th.setAttribute("aria-sort", descending ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
      const mark = this.buttons[name].querySelector(".sort-mark");
      setText(mark, on ? (descending ? " ↓" : " ↑") : "");
      this.buttons[name].title = `Sort by ${SORT_LABEL[name].toLowerCase()}${on ? (descending ? ", descending" : ", ascending") : ""}`;
    }
  }
}

/** "N jobs match these filters", from the list's `total`. */
export class MatchCount {
  constructor() {
    this.el = h("p.match-count.muted", { "aria-live": "polite", hidden: true });
  }

  show(total, capped = false) {
    this.el.hidden = total == null;
    if (total == null) return;
    if (capped) setText(this.el, `More than ${number(total)} jobs match these filters`);
    else setText(this.el, `${number(total)} job${total === 1 ? "" : "s"} match${total === 1 ? "es" : ""} these filters`);
  }
}
