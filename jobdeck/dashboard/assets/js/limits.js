// The organization's limits (GET /api/limits), a panel of the Operations page: the
// concurrency limits in force with the jobs holding and waiting for slots, the API's rate
// limits with what each allows right now, the quotas (storage, job history) with the
// storage used, and each pending job's place in line. An admin changes the concurrency
// limits and the quotas here (PUT /api/limits); the API's 422 message is shown
// next to the field it names. Refreshed every few seconds while shown (the form is not).

import { h, setText } from "./dom.js";
import { bytes, number } from "./format.js";

const REFRESH_MS = 5000;
const ALL = "activeJobs";
const QUOTAS = [
  ["storageBytes", "Storage quota (bytes)"],
  ["jobHistoryDays", "Days an ended job is kept"],
];

/** The field a 422's detail names ("activeJobs must be…", "byType.fine-tuning: …"). */
function fieldOf(detail, names) {
  const text = (detail || "").replace(/^body\./, "");
  return names.filter((name) => text.startsWith(name)).sort((a, b) => b.length - a.length)[0] || null;
}

const place = (ahead) => (ahead === 0 ? "next in line" : `${number(ahead)} ahead`);

export class LimitsPanel {
  constructor({ api }) {
    this.api = api;
    this.note = h("p.muted.limits-note", { "aria-live": "polite" });
    this.concurrency = h("tbody");
    this.rates = h("tbody");
    this.quotas = h("tbody");
    this.pending = h("tbody");
    this.noPending = h("p.muted", { hidden: true }, "No job waits for a slot.");
    this.fields = h("div.limits-fields");
    this.formError = h("p.notice.notice-error", { role: "alert", hidden: true });
    this.saved = h("p.muted.limits-saved", { role: "status" });
    this.inputs = new Map(); // field name → { input, error, loaded }
    this.form = h(
      "form.limits-form",
      { "aria-labelledby": "limits-form-heading", noValidate: true, onsubmit: (e) => this.save(e) },
      h("h3", { id: "limits-form-heading" }, "Change the limits"),
      h("p.muted", null, "Jobs at once, at least 1; a storage quota in bytes and a history in days, at least 1. Empty a field to go back to the server's default. A change applies at once: waiting jobs a raised limit lets through start now."),
      this.fields,
      this.formError,
      h("div.limits-actions", null, h("button.btn.btn-primary", { type: "submit" }, "Save limits"), this.saved),
    );
    this.form.hidden = true;
    this.membersNote = h("p.muted", { hidden: true }, "Only your organization's admins change its limits.");
    this.el = h(
      "section.card.limits",
      { "aria-labelledby": "limits-heading" },
      h("h2", { id: "limits-heading" }, "Limits"),
      this.note,
      h(
        "div.table-wrap",
        null,
        h(
          "table.limits-table",
          null,
          h("caption", null, "Concurrency limits"),
          h("thead", null, h("tr", null, ["Jobs", "Limit", "Running", "Waiting"].map((t, i) => h(i ? "th.num" : "th", { scope: "col" }, t)))),
          this.concurrency,
        ),
      ),
      h(
        "div.table-wrap",
        null,
        h(
          "table.limits-table",
          null,
          h("caption", null, "API rate limits"),
          h("thead", null, h("tr", null, ["What", "Per minute", "Burst", "Allowed now"].map((t, i) => h(i ? "th.num" : "th", { scope: "col" }, t)))),
          this.rates,
        ),
      ),
      h(
        "div.table-wrap",
        null,
        h(
          "table.limits-table",
          null,
          h("caption", null, "Quotas"),
          h("thead", null, h("tr", null, ["Quota", "Limit", "Used"].map((t, i) => h(i ? "th.num" : "th", { scope: "col" }, t)))),
          this.quotas,
        ),
      ),
      h(
        "div.table-wrap",
        null,
        h(
          "table.limits-table",
          null,
          h("caption", null, "Waiting for a slot"),
          h("thead", null, h("tr", null, ["Job", "Type", "Priority", "Place in line"].map((t, i) => h(i > 1 ? "th.num" : "th", { scope: "col" }, t)))),
          this.pending,
        ),
      ),
      this.noPending,
      this.membersNote,
      this.form,
    );
  }

  async start() {
    const [me, types] = await Promise.all([this.api.me().catch(() => null), this.api.types().catch(() => [])]);
    if (this.stopped) return;
    this.admin = Boolean(me && me.role === "admin");
    this.typeNames = types.map((t) => t.name).sort();
    this.membersNote.hidden = this.admin;
    await this.load({ fillForm: true });
  }

  destroy() {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  async load({ fillForm = false } = {}) {
    clearTimeout(this.timer);
    try {
      const report = await this.api.send("GET", "/api/limits");
      if (this.stopped) return;
      this.render(report);
      if (fillForm && this.admin) this.fill(report);
      setText(this.note, `Fair share weight ${report.fairnessWeight} · at most ${number(report.websocketsPerKey)} live connections per API key · checked ${new Date().toLocaleTimeString()}.`);
    } catch (err) {
      if (this.stopped) return;
      setText(this.note, `Could not load the limits: ${err.message}`);
    }
    if (!this.stopped) this.timer = setTimeout(() => this.load(), REFRESH_MS);
  }

  render(report) {
    this.concurrency.replaceChildren(
      ...report.concurrency.map((c) =>
        h(
          "tr",
          { dataset: { type: c.type || "" } },
          h("th", { scope: "row" }, c.type ? c.type : "All jobs"),
          h("td.num", null, c.limit == null ? "no own limit" : number(c.limit)),
          h("td.num", null, number(c.active)),
          h("td.num", null, number(c.waiting)),
        ),
      ),
    );
    this.rates.replaceChildren(
      ...report.rateLimits.map((r) =>
        h("tr", null, h("th", { scope: "row" }, r.name), h("td.num", null, number(r.perMinute)), h("td.num", null, number(r.burst)), h("td.num", null, number(r.remaining))),
      ),
    );
    const { storage, jobHistoryDays } = report.quotas;
    this.quotas.replaceChildren(
      h("tr", { dataset: { quota: "storage" } }, h("th", { scope: "row" }, "Stored files"), h("td.num", null, storage.limit == null ? "none" : bytes(storage.limit)), h("td.num", null, bytes(storage.used))),
      h("tr", { dataset: { quota: "history" } }, h("th", { scope: "row" }, "Job history"), h("td.num", null, jobHistoryDays == null ? "kept for ever" : `${number(jobHistoryDays)} days`), h("td.num", null, "–")),
    );
    this.noPending.hidden = report.pending.length > 0;
    this.pending.replaceChildren(
      ...report.pending.map((p) =>
        h(
          "tr",
          null,
          h("td", null, h("a", { href: `/jobs/${encodeURIComponent(p.jobId)}`, dataset: { nav: "" } }, h("code", null, p.jobId.slice(0, 8)))),
          h("td", null, p.type),
          h("td.num", null, String(p.priority)),
          h("td.num", null, place(p.ahead)),
        ),
      ),
    );
  }

  /** The form's fields, with the limits in force (an empty per-type field: no own limit). */
  fill(report) {
    const limitOf = new Map(report.concurrency.map((c) => [c.type ? `byType.${c.type}` : ALL, c.limit]));
    limitOf.set("storageBytes", report.quotas.storage.limit);
    limitOf.set("jobHistoryDays", report.quotas.jobHistoryDays);
    const fields = [[ALL, "All jobs at once"], ...this.typeNames.map((t) => [`byType.${t}`, `${t} at once`]), ...QUOTAS];
    this.inputs.clear();
    this.fields.replaceChildren(
      ...fields.map(([name, text]) => {
        const id = `limit-${name.replace(/[^a-z0-9-]/gi, "-")}`;
        const value = limitOf.has(name) && limitOf.get(name) != null ? String(limitOf.get(name)) : "";
        const error = h("p.field-error", { id: `${id}-error`, hidden: true });
        const input = h("input", { id, name, type: "number", inputMode: "numeric", step: "1", value, "aria-describedby": `${id}-error` });
        this.inputs.set(name, { input, error, loaded: value });
        return h("div.field.limits-field", null, h("label", { htmlFor: id }, text), input, error);
      }),
    );
    this.form.hidden = false;
  }

  clearErrors() {
    this.formError.hidden = true;
    for (const { input, error } of this.inputs.values()) {
      error.hidden = true;
      error.textContent = "";
      input.removeAttribute("aria-invalid");
    }
  }

  /** Only what the admin changed: a cleared field resets that limit to the default. */
  body() {
    const body = {};
    for (const [name, { input, loaded }] of this.inputs) {
      const raw = input.value.trim();
      if (raw === loaded) continue;
      const value = raw === "" ? null : Number(raw);
      if (name === ALL || QUOTAS.some(([quota]) => quota === name)) body[name] = value;
      else (body.byType ||= {})[name.slice("byType.".length)] = value;
    }
    return body;
  }

  async save(e) {
    e.preventDefault();
    this.clearErrors();
    setText(this.saved, "");
    const body = this.body();
    if (!Object.keys(body).length) {
      setText(this.saved, "Nothing changed.");
      return;
    }
    try {
      const report = await this.api.send("PUT", "/api/limits", { body });
      if (this.stopped) return;
      this.render(report);
      this.fill(report);
      setText(this.saved, "Saved: the new limits apply now.");
    } catch (err) {
      if (this.stopped) return;
      const name = err.status === 422 ? fieldOf(err.message, [...this.inputs.keys()]) : null;
      const field = name && this.inputs.get(name);
      if (field) {
        field.error.textContent = err.message;
        field.error.hidden = false;
        field.input.setAttribute("aria-invalid", "true");
        field.input.focus();
      } else {
        this.formError.textContent = `Could not save the limits: ${err.message}`;
        this.formError.hidden = false;
      }
    }
  }
}
