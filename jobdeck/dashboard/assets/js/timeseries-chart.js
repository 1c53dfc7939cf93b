// Jobs over time as inline SVG (no library, nothing fetched): one line per series
// (created, completed, failed, cancelled) over the buckets of GET /api/stats/timeseries,
// with a legend, axis labels, a description for screen readers and the same numbers as a
// table for those who want to read them.

import { h, setText } from "./dom.js";
import { number } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
export const SERIES = [
  ["created", "Created"],
  ["completed", "Completed"],
  ["failed", "Failed"],
  ["cancelled", "Cancelled"],
];

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
  for (const child of children.flat()) if (child != null) el.append(child);
  return el;
}

const timeLabel = (iso, range) =>
  new Intl.DateTimeFormat(undefined, range === "week" ? { weekday: "short", day: "numeric" } : { hour: "2-digit", minute: "2-digit" }).format(new Date(iso));

export class TimeseriesChart {
  constructor() {
    this.width = 720;
    this.height = 240;
    this.pad = { left: 44, right: 12, top: 12, bottom: 28 };
    this.titleId = `ts-title-${Math.random().toString(36).slice(2)}`;
    this.desc = svg("desc", { id: `${this.titleId}-desc` });
    this.title = svg("title", { id: this.titleId }, "Jobs over time");
    this.plot = svg("g");
    this.svg = svg(
      "svg",
      { class: "ts-chart", viewBox: `0 0 ${this.width} ${this.height}`, role: "img", "aria-labelledby": this.titleId, "aria-describedby": `${this.titleId}-desc` },
      this.title,
      this.desc,
      this.plot,
    );
    this.legend = h(
      "ul.ts-legend",
      null,
      SERIES.map(([key, label]) => h(`li.ts-key-${key}`, null, h("span.swatch", { "aria-hidden": "true" }), label, " ", h("span.ts-total"))),
    );
    this.el = h("div.ts", null, h("div.ts-frame", null, this.svg), this.legend);
  }

  /** Draw a timeseries answer (the whole range at once: one DOM write). */
  draw(series) {
    const { width, height, pad } = this;
    const buckets = series.buckets;
    const n = Math.max(1, buckets.length);
    const top = Math.max(1, ...buckets.flatMap((b) => SERIES.map(([key]) => b[key])));
    const x = (i) => pad.left + ((width - pad.left - pad.right) * (i + 0.5)) / n;
    const y = (v) => pad.top + (height - pad.top - pad.bottom) * (1 - v / top);
    const children = [];
    for (const v of [0, Math.round(top / 2), top]) {
      children.push(
        svg("line", { class: "ts-grid", x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v) }),
        svg("text", { class: "ts-axis", x: pad.left - 6, y: y(v) + 4, "text-anchor": "end" }, number(v)),
      );
    }
    const ticks = 6;
    for (let t = 0; t < ticks; t += 1) {
      const i = Math.round((t * (n - 1)) / (ticks - 1));
      if (!buckets[i]) continue;
      children.push(svg("text", { class: "ts-axis", x: x(i), y: height - 8, "text-anchor": "middle" }, timeLabel(buckets[i].start, series.range)));
    }
    for (const [key] of SERIES) {
      const points = buckets.map((b, i) => `${x(i).toFixed(1)},${y(b[key]).toFixed(1)}`).join(" ");
      children.push(svg("polyline", { class: `ts-line ts-${key}`, points, "data-series": key }));
    }
    this.plot.replaceChildren(...children);
    const totals = Object.fromEntries(SERIES.map(([key]) => [key, buckets.reduce((sum, b) => sum + b[key], 0)]));
    for (const [key] of SERIES) setText(this.legend.querySelector(`.ts-key-${key} .ts-total`), `(${number(totals[key])})`);
    const span = { hour: "the last hour, by minute", day: "the last day, by 15 minutes", week: "the last week, by hour" }[series.range];
    setText(this.title, `Jobs over ${span}`);
    this.desc.textContent = SERIES.map(([key, label]) => `${label}: ${number(totals[key])}`).join(", ") + `; at most ${number(top)} in one bucket.`;
  }
}
