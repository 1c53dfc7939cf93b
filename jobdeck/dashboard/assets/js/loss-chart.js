// A fine-tune's loss curve as inline SVG: train loss and, when reported, validation loss,
// by step (the stored metrics first, then the feed's `metric` events), with the latest
// values as text and a description for screen readers.

import { clear, h, setText } from "./dom.js";
import { number } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
  for (const child of children.flat()) if (child != null) el.append(child);
  return el;
}

export class LossChart {
  constructor() {
    this.points = new Map(); // step -> {totalSteps, values}
    this.width = 640;
    this.height = 240;
    this.pad = { left: 48, right: 12, top: 12, bottom: 30 };
    this.titleId = `loss-title-${Math.random().toString(36).slice(2)}`;
    this.descId = `${this.titleId}-desc`;
    this.desc = svg("desc", { id: this.descId });
    this.plot = svg("g");
    this.svg = svg(
      "svg",
      { class: "loss-chart", viewBox: `0 0 ${this.width} ${this.height}`, role: "img", "aria-labelledby": this.titleId, "aria-describedby": this.descId, preserveAspectRatio: "none" },
      svg("title", { id: this.titleId }, "Loss curve"),
      this.desc,
      this.plot,
    );
    this.latest = h("p.loss-latest", { "aria-live": "off" });
    this.empty = h("p.muted", null, "No metrics yet: the curve starts with the first training steps.");
    this.legend = h(
      "ul.loss-legend",
      null,
      h("li.loss-key-train", null, h("span.swatch", { "aria-hidden": "true" }), "Train loss"),
      h("li.loss-key-valid", { hidden: true }, h("span.swatch", { "aria-hidden": "true" }), "Validation loss"),
    );
    this.el = h("div.loss", null, this.empty, h("div.loss-frame", null, this.svg), this.legend, this.latest);
  }

  add(points) {
    for (const p of points) {
      if (typeof p.step !== "number") continue;
      const values = p.values || Object.fromEntries(Object.entries(p).filter(([k]) => k !== "step" && k !== "totalSteps"));
      this.points.set(p.step, { totalSteps: p.totalSteps ?? null, values });
    }
    this.draw();
  }

  draw() {
    const steps = [...this.points.keys()].sort((a, b) => a - b);
    this.empty.hidden = steps.length > 0;
    clear(this.plot);
    if (!steps.length) return;
    const { width, height, pad } = this;
    const series = (key) => steps.filter((s) => typeof this.points.get(s).values[key] === "number").map((s) => [s, this.points.get(s).values[key]]);
    const train = series("trainLoss");
    const valid = series("validLoss");
    const all = [...train, ...valid].map(([, v]) => v);
    const totals = steps.map((s) => this.points.get(s).totalSteps).filter((t) => typeof t === "number");
    const maxStep = Math.max(steps[steps.length - 1], ...totals, 1);
    let lo = all.length ? Math.min(...all) : 0;
    let hi = all.length ? Math.max(...all) : 1;
    if (hi - lo < 1e-9) {
      hi += 0.5;
      lo = Math.max(0, lo - 0.5);
    }
    const x = (s) => pad.left + ((width - pad.left - pad.right) * s) / maxStep;
    const y = (v) => pad.top + (height - pad.top - pad.bottom) * (1 - (v - lo) / (hi - lo));
    const fmt = (v) => (Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(3));
    const grid = [lo, (lo + hi) / 2, hi].map((v) => [
      svg("line", { class: "loss-grid", x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v) }),
      svg("text", { class: "loss-axis", x: pad.left - 6, y: y(v) + 4, "text-anchor": "end" }, fmt(v)),
    ]);
    const line = (points, cls) =>
      points.length ? svg("polyline", { class: cls, points: points.map(([s, v]) => `${x(s).toFixed(1)},${y(v).toFixed(1)}`).join(" ") }) : null;
    this.plot.append(
      ...grid.flat(),
      svg("text", { class: "loss-axis", x: pad.left, y: height - 8, "text-anchor": "start" }, "step 0"),
      svg("text", { class: "loss-axis", x: width - pad.right, y: height - 8, "text-anchor": "end" }, `step ${maxStep}`),
    );
    for (const el of [line(train, "loss-train"), line(valid, "loss-valid")]) if (el) this.plot.append(el);
    this.legend.querySelector(".loss-key-valid").hidden = !valid.length;
    const last = this.points.get(steps[steps.length - 1]);
    const parts = [`Step ${number(steps[steps.length - 1])}${last.totalSteps ? ` of ${number(last.totalSteps)}` : ""}`];
    if (train.length) parts.push(`train loss ${fmt(train[train.length - 1][1])}`);
    if (valid.length) parts.push(`validation loss ${fmt(valid[valid.length - 1][1])}`);
    setText(this.latest, parts.join(", "));
    this.desc.textContent = train.length
      ? `Train loss from ${fmt(train[0][1])} at step ${train[0][0]} to ${fmt(train[train.length - 1][1])} at step ${train[train.length - 1][0]}.${valid.length ? ` Validation loss, latest ${fmt(valid[valid.length - 1][1])}.` : ""}`
      : "No loss reported yet.";
  }
}
