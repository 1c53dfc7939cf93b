// The operator's page (/operations): jobs over time (created, completed, failed and
// cancelled per bucket, drawn by timeseries-chart.js) with duration percentiles by type,
// over the last hour, day or week, the task queues with their workers (queues.js), and the
// organization's limits, usage and line, which its admins change there (limits.js).
// The range and type live in the URL (?range=&type=); the chart refreshes while shown.

import { h, setText } from "./dom.js";
import { duration, number } from "./format.js";
import { LimitsPanel } from "./limits.js";
import { QueuesPanel } from "./queues.js";
import { TimeseriesChart } from "./timeseries-chart.js";

const RANGES = [
  ["hour", "Last hour"],
  ["day", "Last day"],
  ["week", "Last week"],
];
const REFRESH_MS = { hour: 15_000, day: 60_000, week: 300_000 };

export class OperationsView {
  constructor({ api }) {
    this.api = api;
    const params = new URLSearchParams(location.search);
    this.range = RANGES.some(([r]) => r === params.get("range")) ? params.get("range") : "hour";
    this.type = params.get("type") || "";
    this.rangeSelect = h("select", { id: "ops-range", name: "range" }, RANGES.map(([value, label]) => h("option", { value }, label)));
    this.rangeSelect.value = this.range;
    this.typeSelect = h("select", { id: "ops-type", name: "type" }, h("option", { value: "" }, "All types"));
    if (this.type) this.typeSelect.append(h("option", { value: this.type }, this.type));
    this.typeSelect.value = this.type;
    this.rangeSelect.addEventListener("change", () => this.choose());
    this.typeSelect.addEventListener("change", () => this.choose());
    this.chart = new TimeseriesChart();
    this.note = h("p.muted.ts-note", { "aria-live": "polite" });
    this.durations = h("tbody");
    this.noDurations = h("p.muted", { hidden: true }, "No job finished in this range.");
    this.queues = new QueuesPanel({ api });
    this.limits = new LimitsPanel({ api });
    this.el = h(
      "div.page.page-operations",
      null,
      h("div.page-head", null, h("h1", null, "Operations")),
      h(
        "section.card",
        { "aria-labelledby": "ts-heading" },
        h("div.card-head", null, h("h2", { id: "ts-heading" }, "Jobs over time"), h(
          "form.filters.ts-filters",
          { "aria-label": "What to chart", onsubmit: (e) => e.preventDefault() },
          h("div.field", null, h("label", { htmlFor: "ops-range" }, "Range"), this.rangeSelect),
          h("div.field", null, h("label", { htmlFor: "ops-type" }, "Type"), this.typeSelect),
        )),
        this.chart.el,
        this.note,
      ),
      h(
        "section.card",
        { "aria-labelledby": "durations-heading" },
        h("h2", { id: "durations-heading" }, "Durations by type"),
        h(
          "div.table-wrap",
          null,
          h(
            "table.durations",
            null,
            h("caption.visually-hidden", null, "Duration percentiles of the jobs finished in the range, by type"),
            h("thead", null, h("tr", null, ["Type", "Finished", "Median", "90th", "99th", "Longest"].map((t, i) => h(i ? "th.num" : "th", { scope: "col" }, t)))),
            this.durations,
          ),
        ),
        this.noDurations,
      ),
      this.queues.el,
      this.limits.el,
    );
  }

  start() {
    this.api.types().then((types) => this.setTypes(types), () => {});
    this.queues.start();
    this.limits.start();
    return this.load();
  }

  destroy() {
    clearTimeout(this.timer);
    this.queues.destroy();
    this.limits.destroy();
    this.stopped = true;
  }

  event() {}

  setTypes(types) {
    const current = this.typeSelect.value;
    const names = new Set(types.map((t) => t.name));
    if (current) names.add(current);
    this.typeSelect.replaceChildren(h("option", { value: "" }, "All types"), ...[...names].sort().map((name) => h("option", { value: name }, name)));
    this.typeSelect.value = current;
  }

  choose() {
    this.range = this.rangeSelect.value;
    this.type = this.typeSelect.value;
    const params = new URLSearchParams();
    if (this.range !== "hour") params.set("range", this.range);
    if (this.type) params.set("type", this.type);
    const query = params.toString();
    history.replaceState(history.state, "", `${location.pathname}${query ? `?${query}` : ""}`);
    this.load();
  }

  async load() {
    clearTimeout(this.timer);
    const asked = `${this.range}|${this.type}`;
    const t0 = performance.now();
    try {
      const series = await this.api.send("GET", "/api/stats/timeseries", { params: { range: this.range, type: this.type } });
      if (this.stopped || asked !== `${this.range}|${this.type}`) return;
      this.chart.draw(series);
      this.showDurations(series.durations);
      setText(this.note, `Updated ${new Date().toLocaleTimeString()}; refreshed every ${duration(REFRESH_MS[this.range] / 1000)}.`);
      performance.mark("jobdeck:chart-drawn", { detail: { range: this.range, ms: performance.now() - t0 } });
      document.dispatchEvent(new CustomEvent("jobdeck:chart-drawn", { detail: { range: this.range } }));
    } catch (err) {
      if (this.stopped) return;
      setText(this.note, `Could not load the chart: ${err.message}`);
    }
    if (!this.stopped) this.timer = setTimeout(() => this.load(), REFRESH_MS[this.range]);
  }

  showDurations(rows) {
    this.noDurations.hidden = rows.length > 0;
    this.durations.replaceChildren(
      ...rows.map((d) =>
        h(
          "tr",
          null,
          h("td", null, d.type),
          h("td.num", null, number(d.count)),
          // "≈": read from the buckets' sketches, within about 1% (too many jobs to read each).
          ...[d.p50, d.p90, d.p99].map((v) =>
            h("td.num", d.approximate ? { title: "within about 1%" } : null, `${d.approximate ? "≈" : ""}${duration(v)}`),
          ),
          h("td.num", null, duration(d.max)),
        ),
      ),
    );
  }
}
