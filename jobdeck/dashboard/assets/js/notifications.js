// /notifications: the organization's notification channels (webhook, Slack, Discord, email)
// and rules, a warning when a channel was disabled for failing, and each channel's delivery
// log with redeliver. A webhook's signing secret is shown once, when the channel is made.

import { clear, h, setText } from "./dom.js";
import { fullTime, shortTime } from "./format.js";

const when = (iso) => (iso ? h("time", { dateTime: iso, title: fullTime(iso) }, shortTime(iso)) : "–");
const KINDS = [
  ["webhook", "Webhook (signed, Standard Webhooks)"],
  ["slack", "Slack incoming webhook"],
  ["discord", "Discord webhook"],
  ["email", "Email (SMTP)"],
];
const SECURITY = [
  ["starttls", "STARTTLS (port 587)"],
  ["tls", "TLS from the start (port 465)"],
  ["none", "None: a relay on a trusted network"],
];
const CA_FIELD = "email.caCert";
const STATUS_CHIP = { delivered: "completed", failed: "failed", skipped: "cancelled", pending: "active" };

export class NotificationsView {
  constructor({ api, toast, confirm }) {
    this.api = api;
    this.toast = toast;
    this.confirm = confirm;
    this.channels = [];
    this.logChannel = null; // the channel whose delivery log is open

    const field = (id, label, input) => h("div.field", null, h("label", { htmlFor: id }, label), input);
    this.chName = h("input", { id: "nt-name", type: "text", required: true, maxLength: 200, autocomplete: "off" });
    this.chKind = h("select", { id: "nt-kind" }, KINDS.map(([value, label]) => h("option", { value }, label)));
    this.chKind.addEventListener("change", () => this.showKind());
    this.chUrl = h("input", { id: "nt-url", type: "url", required: true, maxLength: 2000, autocomplete: "off", placeholder: "https://…" });
    this.urlField = field("nt-url", "URL", this.chUrl);
    this.emailFields = this.emailFieldset(field);
    this.secret = h("p.notice", { id: "nt-secret", role: "status", hidden: true });
    this.chError = h("p.notice.notice-error", { role: "alert", hidden: true });
    this.channelForm = h(
      "form.upload",
      { "aria-labelledby": "nt-channel-title", onsubmit: (e) => this.addChannel(e) },
      h("h2", { id: "nt-channel-title" }, "New channel"),
      h(
        "div.upload-fields",
        null,
        field("nt-name", "Channel name", this.chName),
        field("nt-kind", "Kind", this.chKind),
        this.urlField,
      ),
      this.emailFields,
      h("div.field.field-end", null, h("button.btn.btn-primary", { type: "submit" }, "Add channel")),
      this.secret,
      this.chError,
    );

    this.ruleName = h("input", { id: "nt-rule-name", type: "text", required: true, maxLength: 200, autocomplete: "off" });
    this.ruleChannel = h("select", { id: "nt-rule-channel", required: true });
    this.ruleEvents = h("fieldset.nt-events", null, h("legend", null, "Events"));
    this.rulePattern = h("input", { id: "nt-rule-pattern", type: "text", maxLength: 200, autocomplete: "off", placeholder: "any name, or e.g. nightly-*" });
    this.ruleError = h("p.notice.notice-error", { role: "alert", hidden: true });
    this.ruleForm = h(
      "form.upload",
      { "aria-labelledby": "nt-rule-title", onsubmit: (e) => this.addRule(e) },
      h("h2", { id: "nt-rule-title" }, "New rule"),
      h(
        "div.upload-fields",
        null,
        field("nt-rule-name", "Rule name", this.ruleName),
        field("nt-rule-channel", "Send to", this.ruleChannel),
        field("nt-rule-pattern", "Job name pattern", this.rulePattern),
      ),
      this.ruleEvents,
      h("div.field.field-end", null, h("button.btn.btn-primary", { type: "submit" }, "Add rule")),
      this.ruleError,
    );

    this.warning = h("p.notice.notice-error", { id: "nt-disabled", role: "alert", hidden: true });
    this.error = h("p.notice.notice-error", { role: "alert", hidden: true });
    this.channelRows = h("tbody");
    this.ruleRows = h("tbody");
    this.logTitle = h("h2", { id: "nt-log-title" }, "Delivery log");
    this.logRows = h("tbody");
    this.log = h(
      "section.card",
      { hidden: true, "aria-labelledby": "nt-log-title" },
      this.logTitle,
      h("button.btn.btn-small", { type: "button", onclick: () => this.loadLog() }, "Refresh log"),
      this.table("Deliveries, newest first", ["Event", "Job", "Status", "Tries", "Last answer", "Next try", "Created", "Actions"], this.logRows),
    );
    this.el = h(
      "div.page.page-notifications",
      null,
      h("div.page-head", null, h("h1", null, "Notifications")),
      this.warning,
      this.error,
      h("section.card", null, this.channelForm),
      this.table("Channels", ["Name", "Kind", "Where", "State", "Actions"], this.channelRows),
      h("section.card", null, this.ruleForm),
      this.table("Rules", ["Name", "Channel", "Events", "Filters", "Actions"], this.ruleRows),
      this.log,
    );
  }

  emailFieldset(field) {
    this.emHost = h("input", { id: "nt-email-host", type: "text", maxLength: 253, autocomplete: "off", placeholder: "smtp.example.com" });
    this.emPort = h("input", { id: "nt-email-port", type: "number", min: 1, max: 65535, defaultValue: "587" });
    this.emSecurity = h("select", { id: "nt-email-security" }, SECURITY.map(([value, label]) => h("option", { value }, label)));
    this.emSecurity.addEventListener("change", () => {
      this.emPort.value = this.emSecurity.value === "tls" ? "465" : this.emSecurity.value === "starttls" ? "587" : this.emPort.value;
      this.emCa.disabled = this.emSecurity.value === "none";
    });
    this.emUser = h("input", { id: "nt-email-user", type: "text", maxLength: 200, autocomplete: "off" });
    this.emPassword = h("input", { id: "nt-email-password", type: "password", maxLength: 500, autocomplete: "new-password" });
    this.emSender = h("input", { id: "nt-email-sender", type: "email", maxLength: 254, autocomplete: "off", placeholder: "jobdeck@example.com" });
    this.emTo = h("input", { id: "nt-email-to", type: "text", autocomplete: "off", placeholder: "ops@example.com, oncall@example.com" });
    this.emCa = h("textarea", {
      id: "nt-email-ca",
      rows: 5,
      maxLength: 50000,
      spellcheck: false,
      autocomplete: "off",
      placeholder: "-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----",
      "aria-describedby": "nt-email-ca-hint nt-email-ca-error",
    });
    this.emCaError = h("p.field-error", { id: "nt-email-ca-error", role: "alert", hidden: true });
    return h(
      "fieldset.ft-fieldset.nt-email",
      { hidden: true },
      h("legend", null, "Email (SMTP)"),
      h(
        "div.upload-fields",
        null,
        field("nt-email-host", "SMTP server", this.emHost),
        field("nt-email-port", "Port", this.emPort),
        field("nt-email-security", "Security", this.emSecurity),
      ),
      h(
        "div.upload-fields",
        null,
        field("nt-email-user", "User name (optional)", this.emUser),
        field("nt-email-password", "Password (optional)", this.emPassword),
        field("nt-email-sender", "From", this.emSender),
        field("nt-email-to", "To (comma-separated)", this.emTo),
      ),
      h(
        "div.field.nt-ca",
        null,
        h("label", { htmlFor: "nt-email-ca" }, "CA certificate (optional, PEM)"),
        this.emCa,
        h(
          "span.hint",
          { id: "nt-email-ca-hint" },
          "Only for a server whose certificate a private or self-signed CA signed: paste that CA's certificate, trusted instead of the system's CAs. The server's certificate and name are always checked.",
        ),
        this.emCaError,
      ),
    );
  }

  showKind() {
    const email = this.chKind.value === "email";
    this.urlField.hidden = email;
    this.chUrl.required = !email;
    this.emailFields.hidden = !email;
    for (const input of [this.emHost, this.emSender, this.emTo]) input.required = email;
    this.emCa.disabled = this.emSecurity.value === "none";
  }

  emailSettings() {
    const optional = (input) => input.value.trim() || null;
    return {
      host: this.emHost.value.trim(),
      port: Number(this.emPort.value) || 587,
      security: this.emSecurity.value,
      username: optional(this.emUser),
      password: this.emPassword.value || null,
      sender: this.emSender.value.trim(),
      to: this.emTo.value.split(",").map((a) => a.trim()).filter(Boolean),
      caCert: this.emCa.disabled ? null : optional(this.emCa),
    };
  }

  showCaError(message) {
    this.emCaError.hidden = !message;
    setText(this.emCaError, message || "");
    if (message) this.emCa.setAttribute("aria-invalid", "true");
    else this.emCa.removeAttribute("aria-invalid");
  }

  table(caption, heads, body) {
    return h(
      "div.table-wrap",
      null,
      h("table.datasets", null, h("caption", null, caption), h("thead", null, h("tr", null, heads.map((t) => h("th", { scope: "col" }, t)))), body),
    );
  }

  async start() {
    try {
      const { events } = await this.api.send("GET", "/api/notifications/events");
      for (const name of events) {
        const id = `nt-event-${name.replace(/\W/g, "-")}`;
        this.ruleEvents.append(h("label.nt-event", { htmlFor: id }, h("input", { id, type: "checkbox", value: name }), ` ${name}`));
      }
    } catch (err) {
      this.fail(`Could not load the events: ${err.message}`);
    }
    await this.load();
  }

  destroy() {}

  event() {}

  fail(text) {
    this.error.hidden = false;
    setText(this.error, text);
  }

  async load() {
    try {
      const [channels, rules] = await Promise.all([
        this.api.send("GET", "/api/notifications/channels"),
        this.api.send("GET", "/api/notifications/rules"),
      ]);
      this.error.hidden = true;
      this.channels = channels.items;
      this.renderChannels(channels);
      this.renderRules(rules.items);
    } catch (err) {
      this.fail(`Could not load notifications: ${err.message}`);
    }
  }

  renderChannels({ items, disabledCount }) {
    this.warning.hidden = disabledCount === 0;
    setText(this.warning, disabledCount ? `${disabledCount} channel(s) were disabled because every delivery failed for too long. Fix the receiver, then enable the channel again.` : "");
    clear(this.channelRows);
    const selected = this.ruleChannel.value;
    clear(this.ruleChannel);
    if (!items.length) this.channelRows.append(h("tr", null, h("td", { colSpan: 5 }, "No channels yet. Add one above.")));
    for (const c of items) {
      this.ruleChannel.append(h("option", { value: c.id }, c.name));
      const state = c.disabled ? "disabled" : c.enabled ? "enabled" : "off";
      this.channelRows.append(
        h(
          "tr",
          { dataset: { id: c.id } },
          h("td", null, c.name),
          h("td", null, c.kind),
          h("td", null, c.url || (c.email ? c.email.to.join(", ") : "–")),
          h("td", null, h(`span.chip.chip-${c.disabled ? "failed" : c.enabled ? "completed" : "cancelled"}`, { title: c.disabledReason || "" }, state)),
          h(
            "td.sc-actions",
            null,
            h("button.btn.btn-small", { type: "button", onclick: () => this.testSend(c) }, "Test"),
            h("button.btn.btn-small", { type: "button", onclick: () => this.openLog(c) }, "Log"),
            c.enabled && !c.disabled
              ? h("button.btn.btn-small", { type: "button", onclick: () => this.setEnabled(c, false) }, "Turn off")
              : h("button.btn.btn-small", { type: "button", onclick: () => this.setEnabled(c, true) }, "Enable"),
            h("button.btn.btn-small.btn-danger", { type: "button", onclick: () => this.removeChannel(c) }, "Delete"),
          ),
        ),
      );
    }
    if (selected) this.ruleChannel.value = selected;
  }

  renderRules(rules) {
    clear(this.ruleRows);
    const names = Object.fromEntries(this.channels.map((c) => [c.id, c.name]));
    if (!rules.length) this.ruleRows.append(h("tr", null, h("td", { colSpan: 5 }, "No rules yet: nothing is sent.")));
    for (const r of rules) {
      const filters = [r.jobTypes.length ? `types: ${r.jobTypes.join(", ")}` : null, r.namePattern ? `name: ${r.namePattern}` : null, r.priorities.length ? `priority: ${r.priorities.join(", ")}` : null].filter(Boolean);
      this.ruleRows.append(
        h(
          "tr",
          { dataset: { id: r.id } },
          h("td", null, r.name),
          h("td", null, names[r.channelId] || r.channelId),
          h("td", null, r.events.join(", ")),
          h("td", null, filters.join("; ") || "every job"),
          h("td", null, h("button.btn.btn-small.btn-danger", { type: "button", onclick: () => this.removeRule(r) }, "Delete")),
        ),
      );
    }
  }

  async addChannel(e) {
    e.preventDefault();
    this.chError.hidden = true;
    this.secret.hidden = true;
    this.showCaError(null);
    const kind = this.chKind.value;
    const body = { name: this.chName.value.trim(), kind };
    if (kind === "email") body.email = this.emailSettings();
    else body.url = this.chUrl.value.trim();
    try {
      const created = await this.api.send("POST", "/api/notifications/channels", { body });
      if (created.secret) {
        this.secret.hidden = false;
        setText(this.secret, `Signing secret of “${created.name}” (shown only now; copy it to your receiver): ${created.secret}`);
      }
      this.toast(`Channel “${created.name}” added.`);
      this.channelForm.reset();
      this.showKind();
      await this.load();
    } catch (err) {
      // The API names what is wrong without repeating the value (a certificate may be a
      // whole pasted file); the CA field's own problem is shown under it too.
      const errors = err.errors || [];
      const ca = errors.find((e) => e.field === CA_FIELD);
      if (ca) this.showCaError(`The CA certificate was refused: ${ca.message.replace(/^Value error, /, "")}`);
      if (!ca || errors.some((e) => e.field !== CA_FIELD)) {
        this.chError.hidden = false;
        setText(this.chError, err.message);
      }
    }
  }

  async addRule(e) {
    e.preventDefault();
    this.ruleError.hidden = true;
    const events = [...this.ruleEvents.querySelectorAll("input:checked")].map((i) => i.value);
    const body = { name: this.ruleName.value.trim(), channelId: this.ruleChannel.value, events, namePattern: this.rulePattern.value.trim() || null };
    try {
      const rule = await this.api.send("POST", "/api/notifications/rules", { body });
      this.toast(`Rule “${rule.name}” added.`);
      this.ruleForm.reset();
      await this.load();
    } catch (err) {
      this.ruleError.hidden = false;
      setText(this.ruleError, err.message);
    }
  }

  async act(label, work) {
    try {
      await work();
      await this.load();
      if (this.logChannel) await this.loadLog();
    } catch (err) {
      this.toast(`Could not ${label}: ${err.message}`, "error");
    }
  }

  setEnabled(c, enabled) {
    return this.act(enabled ? "enable the channel" : "turn the channel off", () => this.api.send("PATCH", `/api/notifications/channels/${encodeURIComponent(c.id)}`, { body: { enabled } }));
  }

  async removeChannel(c) {
    if (!(await this.confirm(`Delete the channel “${c.name}”?`, "Its rules and delivery log go with it.", "Delete it", "Keep it"))) return;
    if (this.logChannel && this.logChannel.id === c.id) {
      this.logChannel = null;
      this.log.hidden = true;
    }
    await this.act("delete the channel", () => this.api.send("DELETE", `/api/notifications/channels/${encodeURIComponent(c.id)}`));
  }

  removeRule(r) {
    return this.act("delete the rule", () => this.api.send("DELETE", `/api/notifications/rules/${encodeURIComponent(r.id)}`));
  }

  async testSend(c) {
    try {
      const result = await this.api.send("POST", `/api/notifications/channels/${encodeURIComponent(c.id)}/test`);
      if (result.delivered) this.toast(`Test sent to “${c.name}” (answer ${result.statusCode}).`);
      else this.toast(`Test to “${c.name}” failed: ${result.error}`, "error");
    } catch (err) {
      this.toast(`Could not send a test: ${err.message}`, "error");
    }
  }

  async openLog(c) {
    this.logChannel = c;
    this.log.hidden = false;
    setText(this.logTitle, `Delivery log of “${c.name}”`);
    await this.loadLog();
  }

  async loadLog() {
    const c = this.logChannel;
    if (!c) return;
    try {
      const { items } = await this.api.send("GET", `/api/notifications/channels/${encodeURIComponent(c.id)}/deliveries`, { params: { limit: 100 } });
      clear(this.logRows);
      if (!items.length) this.logRows.append(h("tr", null, h("td", { colSpan: 8 }, "Nothing sent yet.")));
      for (const d of items) {
        const answer = d.lastStatusCode ? `${d.lastStatusCode}${d.lastError ? ` · ${d.lastError}` : ""}` : d.lastError || "–";
        this.logRows.append(
          h(
            "tr",
            { dataset: { id: d.id } },
            h("td", null, d.event),
            h("td", null, d.jobId ? h("a", { href: `/jobs/${encodeURIComponent(d.jobId)}` }, d.jobId.slice(0, 8)) : "–"),
            h("td", null, h(`span.chip.chip-${STATUS_CHIP[d.status] || "pending"}`, null, d.status)),
            h("td", null, String(d.attempts)),
            h("td", { title: d.lastResponse || "" }, answer),
            h("td", null, when(d.nextRetryAt)),
            h("td", null, when(d.createdAt)),
            h("td", null, h("button.btn.btn-small", { type: "button", disabled: d.status === "pending", onclick: () => this.redeliver(d) }, "Redeliver")),
          ),
        );
      }
    } catch (err) {
      this.toast(`Could not load the delivery log: ${err.message}`, "error");
    }
  }

  redeliver(d) {
    return this.act("redeliver", async () => {
      await this.api.send("POST", `/api/notifications/deliveries/${encodeURIComponent(d.id)}/redeliver`);
      this.toast("Sent again.");
    });
  }
}
