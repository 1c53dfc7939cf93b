// /schedules: the organization's schedules (each a Temporal Schedule firing ordinary jobs)
// with their next run, pause/resume, trigger now, edit and delete, and the form that
// creates or edits one, with the cron read out in words and its next times as you type.
// A schedule fires a job of a type or runs a saved pipeline (its inputs in the JSON box).

import { clear, h, setText } from "./dom.js";
import { fullTime, shortTime } from "./format.js";

const OVERLAPS = [
  ["skip", "Skip the new run"],
  ["bufferOne", "Queue one run"],
  ["bufferAll", "Queue every run"],
  ["cancelOther", "Cancel the running job"],
  ["terminateOther", "Terminate the running job"],
  ["allowAll", "Run side by side"],
];
const localZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const when = (iso) => (iso ? h("time", { dateTime: iso, title: fullTime(iso) }, shortTime(iso)) : "–");
const path = (id, action = "") => `/api/schedules/${encodeURIComponent(id)}${action}`;
const PIPELINE = "pipeline:"; // the prefix of a pipeline's option in the "runs" select

export class SchedulesView {
  constructor({ api, toast, confirm, navigate }) {
    this.api = api;
    this.toast = toast;
    this.confirm = confirm;
    this.navigate = navigate;
    this.editing = null; // the schedule the form edits; null: a new one
    this.previewTimer = null;
    this.previewSeq = 0;
    this.pipelines = new Map(); // id -> name, the saved pipelines a schedule may run

    this.name = h("input", { id: "sc-name", type: "text", required: true, maxLength: 200, autocomplete: "off" });
    this.type = h("select", { id: "sc-type", required: true });
    this.jobName = h("input", { id: "sc-job-name", type: "text", maxLength: 200, autocomplete: "off", placeholder: "the schedule's name" });
    this.data = h("textarea", { id: "sc-data", rows: 3, spellcheck: false }, "{}");
    this.typeGroup = h("optgroup", { label: "Job types" });
    this.pipelineGroup = h("optgroup", { label: "Pipelines" });
    this.type.append(this.typeGroup, this.pipelineGroup);
    this.cron = h("input", { id: "sc-cron", type: "text", autocomplete: "off", spellcheck: false, placeholder: "30 2 * * *", oninput: () => this.schedulePreview() });
    this.interval = h("input", { id: "sc-interval", type: "number", min: 1, step: 1, placeholder: "seconds" });
    this.timezone = h("input", { id: "sc-timezone", type: "text", autocomplete: "off", value: localZone(), oninput: () => this.schedulePreview() });
    this.overlap = h("select", { id: "sc-overlap" }, OVERLAPS.map(([value, label]) => h("option", { value }, label)));
    this.preview = h("p.sc-preview", { id: "sc-preview", "aria-live": "polite" });
    this.formTitle = h("h2", { id: "sc-form-title" }, "New schedule");
    this.submit = h("button.btn.btn-primary", { type: "submit" }, "Create schedule");
    this.cancelEdit = h("button.btn.btn-quiet", { type: "button", hidden: true, onclick: () => this.resetForm() }, "Cancel editing");
    this.formError = h("p.notice.notice-error", { role: "alert", hidden: true });
    const field = (id, label, input, cls = "") => h(`div.field${cls}`, null, h("label", { htmlFor: id }, label), input);
    this.form = h(
      "form.upload.sc-form",
      { "aria-labelledby": "sc-form-title", onsubmit: (e) => this.save(e) },
      this.formTitle,
      h(
        "div.upload-fields",
        null,
        field("sc-name", "Name", this.name),
        field("sc-type", "Job type or pipeline", this.type),
        field("sc-job-name", "Job name (optional)", this.jobName),
        field("sc-overlap", "While the last run still runs", this.overlap),
      ),
      h(
        "div.upload-fields",
        null,
        field("sc-cron", "Cron (minute hour day month weekday)", this.cron),
        field("sc-interval", "…or every N seconds", this.interval),
        field("sc-timezone", "Time zone (IANA)", this.timezone),
      ),
      this.preview,
      h("div.upload-fields", null, field("sc-data", "Job data or pipeline inputs (JSON)", this.data, ".sc-wide"), h("div.field.field-end", null, this.submit, this.cancelEdit)),
      this.formError,
    );

    this.body = h("tbody");
    this.empty = h("p.empty", { hidden: true }, "No schedules yet. Create one above.");
    this.error = h("p.notice.notice-error", { role: "alert", hidden: true });
    this.el = h(
      "div.page.page-schedules",
      null,
      h("div.page-head", null, h("h1", null, "Schedules")),
      h("section.card", null, this.form),
      this.error,
      h(
        "div.table-wrap",
        null,
        h(
          "table.datasets.schedules",
          null,
          h("caption.visually-hidden", null, "Schedules, newest first"),
          h("thead", null, h("tr", null, ["Name", "Job", "When", "Next run", "Last run", "State", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
          this.body,
        ),
        this.empty,
      ),
    );
  }

  async start() {
    try {
      const types = await this.api.types();
      for (const t of types.filter((t) => t.startable !== false)) this.typeGroup.append(h("option", { value: t.name }, t.name));
    } catch (err) {
      this.showFormError(`Could not load the job types: ${err.message}`);
    }
    try {
      const page = await this.api.send("GET", "/api/pipelines", { params: { limit: 200 } });
      for (const p of page.data) {
        this.pipelines.set(p.id, p.name);
        this.pipelineGroup.append(h("option", { value: PIPELINE + p.id }, `Pipeline: ${p.name}`));
      }
    } catch (err) {
      this.showFormError(`Could not load the pipelines: ${err.message}`);
    }
    this.schedulePreview();
    await this.load();
  }

  destroy() {
    clearTimeout(this.previewTimer);
  }

  event() {}

  async load() {
    try {
      const page = await this.api.send("GET", "/api/schedules", { params: { limit: 200 } });
      this.error.hidden = true;
      this.render(page.data);
    } catch (err) {
      this.error.hidden = false;
      setText(this.error, `Could not load schedules: ${err.message}`);
    }
  }

  render(schedules) {
    clear(this.body);
    for (const s of schedules) {
      const paused = s.state === "paused";
      const last = s.lastRuns[0];
      const rule = s.cron ? h("span", { title: `${s.cron} (${s.timezone})` }, `${s.cronText} (${s.timezone})`) : `Every ${s.interval} s`;
      this.body.append(
        h(
          "tr",
          { dataset: { id: s.id } },
          h("td", null, s.name),
          h("td", null, s.pipeline ? `Pipeline: ${this.pipelines.get(s.pipeline.id) || s.pipeline.id} (v${s.pipeline.version})` : s.job.type),
          h("td", null, rule),
          h("td", null, paused ? "paused" : when(s.nextRuns[0])),
          h("td", null, this.lastRun(last)),
          h("td", null, h(`span.chip.chip-${paused ? "cancelled" : "active"}`, { title: s.note || "" }, s.state), s.note ? h("span.sc-note", null, ` ${s.note}`) : null),
          h(
            "td.sc-actions",
            null,
            h("button.btn.btn-small", { type: "button", onclick: () => this.toggle(s) }, paused ? "Resume" : "Pause"),
            h("button.btn.btn-small", { type: "button", onclick: () => this.trigger(s) }, "Trigger now"),
            h("button.btn.btn-small.btn-quiet", { type: "button", onclick: () => this.edit(s) }, "Edit"),
            h("button.btn.btn-small.btn-danger", { type: "button", onclick: () => this.remove(s) }, "Delete"),
          ),
        ),
      );
    }
    this.empty.hidden = schedules.length > 0;
  }

  // A schedule's last run: a link to its job, or, for a run refused when it fired (its
  // owner's keys revoked, its job no longer valid...), why, and no link: it has no job.
  lastRun(last) {
    if (!last) return "–";
    const at = when(last.scheduledAt || last.startedAt);
    if (last.status === "refused") {
      return h("span.sc-refused", { title: last.reason || "" }, at, ` Refused: ${last.message || last.reason}`);
    }
    if (!last.jobId) return at;
    return h("a", { href: `/jobs/${encodeURIComponent(last.jobId)}`, onclick: (e) => this.follow(e, last.jobId) }, at);
  }

  schedulePreview() {
    clearTimeout(this.previewTimer);
    this.previewTimer = setTimeout(() => this.showPreview(), 250);
  }

  async showPreview() {
    const cron = this.cron.value.trim();
    const seq = ++this.previewSeq;
    if (!cron) {
      setText(this.preview, this.interval.value ? "" : "Give a cron, e.g. 30 2 * * * (02:30 daily), or an interval.");
      return;
    }
    try {
      const p = await this.api.send("GET", "/api/schedules/preview", { params: { cron, timezone: this.timezone.value.trim() || "UTC" } });
      if (seq !== this.previewSeq) return;
      this.preview.classList.remove("sc-preview-error");
      setText(this.preview, `${p.text} (${p.timezone}). Next: ${p.nextRuns.slice(0, 3).map((t) => fullTime(t)).join(", ")}`);
    } catch (err) {
      if (seq !== this.previewSeq) return;
      this.preview.classList.add("sc-preview-error");
      setText(this.preview, err.message);
    }
  }

  body_() {
    let data;
    try {
      data = JSON.parse(this.data.value || "{}");
    } catch (err) {
      throw new Error(`Job data or pipeline inputs are not JSON: ${err.message}`);
    }
    const name = this.name.value.trim();
    const jobName = this.jobName.value.trim();
    const body = { name, timezone: this.timezone.value.trim() || "UTC", overlap: this.overlap.value };
    if (this.type.value.startsWith(PIPELINE)) {
      // Saved again without a version: the schedule moves to the pipeline's latest version.
      body.pipeline = { id: this.type.value.slice(PIPELINE.length), inputs: data };
      if (jobName) body.pipeline.name = jobName;
    } else {
      body.job = { type: this.type.value, name: jobName || name, data };
    }
    if (this.cron.value.trim()) body.cron = this.cron.value.trim();
    if (this.interval.value) body.interval = Number(this.interval.value);
    return body;
  }

  async save(e) {
    e.preventDefault();
    this.formError.hidden = true;
    let body;
    try {
      body = this.body_();
    } catch (err) {
      this.showFormError(err.message);
      return;
    }
    this.submit.disabled = true;
    try {
      if (this.editing) {
        await this.api.send("PUT", path(this.editing.id), { body });
        this.toast(`Schedule “${body.name}” saved.`);
      } else {
        await this.api.send("POST", "/api/schedules", { body });
        this.toast(`Schedule “${body.name}” created.`);
      }
      this.resetForm();
      await this.load();
    } catch (err) {
      this.showFormError(err.message);
    } finally {
      this.submit.disabled = false;
    }
  }

  showFormError(text) {
    this.formError.hidden = false;
    setText(this.formError, text);
  }

  resetForm() {
    this.editing = null;
    this.form.reset();
    this.timezone.value = localZone();
    this.data.value = "{}";
    setText(this.formTitle, "New schedule");
    setText(this.submit, "Create schedule");
    this.cancelEdit.hidden = true;
    this.formError.hidden = true;
    this.schedulePreview();
  }

  edit(s) {
    this.editing = s;
    this.name.value = s.name;
    const runs = s.pipeline ? PIPELINE + s.pipeline.id : s.job.type;
    if (s.pipeline && ![...this.pipelineGroup.children].some((o) => o.value === runs)) {
      this.pipelineGroup.append(h("option", { value: runs }, `Pipeline: ${s.pipeline.id}`)); // beyond the first page
    }
    this.type.value = runs;
    this.jobName.value = s.job.name;
    this.data.value = JSON.stringify(s.pipeline ? s.pipeline.inputs : s.job.data, null, 2);
    this.cron.value = s.cron || "";
    this.interval.value = s.interval || "";
    this.timezone.value = s.timezone;
    this.overlap.value = s.overlap;
    setText(this.formTitle, `Edit “${s.name}”`);
    setText(this.submit, "Save schedule");
    this.cancelEdit.hidden = false;
    this.schedulePreview();
    this.name.focus();
  }

  follow(e, jobId) {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault();
    this.navigate(`/jobs/${encodeURIComponent(jobId)}`);
  }

  async act(label, request) {
    try {
      await request();
      await this.load();
    } catch (err) {
      this.toast(`Could not ${label}: ${err.message}`, "error");
    }
  }

  toggle(s) {
    const action = s.state === "paused" ? "resume" : "pause";
    return this.act(action, () => this.api.send("POST", path(s.id, `/${action}`), { body: { note: `${action}d from the dashboard` } }));
  }

  trigger(s) {
    return this.act("trigger it", async () => {
      await this.api.send("POST", path(s.id, "/trigger"));
      this.toast(`“${s.name}” fired a run; it shows in the jobs list.`);
    });
  }

  async remove(s) {
    if (!(await this.confirm(`Delete “${s.name}”?`, "It stops firing; the jobs it fired stay.", "Delete it", "Keep it"))) return;
    await this.act("delete it", async () => {
      await this.api.send("DELETE", path(s.id));
      this.toast(`Schedule “${s.name}” deleted.`);
    });
  }
}
