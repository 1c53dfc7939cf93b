// A pipeline run's steps as a graph: columns by depth, the dependencies as inline SVG edges
// (a long one through a slot of its own in each column it crosses), each step a button in
// its status colour with a spinner while it runs. DOM order is column by column, so Tab
// walks the graph in the order it runs. pipeline-run.js feeds it the steps.

import { clear, h, icon, setText } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
export const STEP_STATUSES = ["pending", "running", "waiting", "completed", "failed", "skipped", "cancelled"];
export const LABEL = {
  pending: "Pending",
  running: "Running",
  waiting: "Waiting for approval",
  completed: "Completed",
  failed: "Failed",
  skipped: "Skipped",
  cancelled: "Cancelled",
};
export const ICON = { pending: "pending", running: "active", waiting: "waiting", completed: "completed", failed: "failed", skipped: "skipped", cancelled: "cancelled" };
const NODE_W = 190;
const NODE_H = 72;
const WAYPOINT_H = 12; // the slot of a long edge in a column it passes through
const GAP_X = 60;
const GAP_Y = 18;
const PAD = 8;

/** Columns by depth (a step one column right of the deepest step it waits for). An edge
 * that spans columns passes through a slot of its own in each column between, so it never
 * runs behind a node; within a column, slots sit near those they come from (one
 * barycentre pass over spec order). Enough for the graphs people write by hand. */
export function layout(steps) {
  const byId = new Map(steps.map((s) => [s.stepId, s]));
  const ups = (id) => (byId.get(id).dependsOn || []).filter((d) => byId.has(d) && d !== id);
  const depth = new Map();
  const depthOf = (id, seen = new Set()) => {
    if (depth.has(id)) return depth.get(id);
    if (seen.has(id)) return 0; // a cycle cannot be saved; never loop on one anyway
    seen.add(id);
    const before = ups(id);
    const d = before.length ? 1 + Math.max(...before.map((u) => depthOf(u, seen))) : 0;
    depth.set(id, d);
    return d;
  };
  // Slots: a step's node, or a waypoint of a long edge; each knows the slots it comes from.
  const slots = new Map();
  const columns = [];
  const put = (key, column, from, real) => {
    slots.set(key, { key, column, from, real });
    (columns[column] ||= []).push(key);
  };
  for (const s of steps) put(s.stepId, depthOf(s.stepId), [], true);
  const routes = [];
  for (const s of steps) {
    for (const u of ups(s.stepId)) {
      const chain = [u];
      for (let c = depth.get(u) + 1; c < depth.get(s.stepId); c += 1) {
        const key = `${u}\u0000${s.stepId}\u0000${c}`;
        put(key, c, [chain[chain.length - 1]], false);
        chain.push(key);
      }
      slots.get(s.stepId).from.push(chain[chain.length - 1]);
      routes.push({ from: u, to: s.stepId, through: chain.slice(1) });
    }
  }
  const row = new Map();
  columns.forEach((keys, c) => {
    if (c > 0) {
      const centre = (key) => {
        const from = slots.get(key).from.filter((k) => row.has(k));
        return from.length ? from.reduce((sum, k) => sum + row.get(k), 0) / from.length : Infinity;
      };
      const order = new Map(keys.map((k, i) => [k, i]));
      keys.sort((a, b) => centre(a) - centre(b) || order.get(a) - order.get(b));
    }
    keys.forEach((k, i) => row.set(k, i));
  });
  const size = (key) => (slots.get(key).real ? NODE_H : WAYPOINT_H);
  const span = (keys) => keys.reduce((sum, k) => sum + size(k), 0) + Math.max(0, keys.length - 1) * GAP_Y;
  const tallest = Math.max(NODE_H, ...columns.map(span));
  const positions = new Map();
  columns.forEach((keys, c) => {
    let y = PAD + (tallest - span(keys)) / 2;
    for (const k of keys) {
      positions.set(k, { x: PAD + c * (NODE_W + GAP_X), y, mid: y + size(k) / 2, column: c });
      y += size(k) + GAP_Y;
    }
  });
  return {
    positions,
    routes,
    order: columns.flat().filter((k) => slots.get(k).real),
    width: PAD * 2 + columns.length * NODE_W + Math.max(0, columns.length - 1) * GAP_X,
    height: PAD * 2 + tallest,
  };
}

/** An edge's path: curves between columns, straight across each waypoint's column. */
function edgePath(route, positions) {
  const from = positions.get(route.from);
  const to = positions.get(route.to);
  const points = [[from.x + NODE_W, from.mid]];
  for (const key of route.through) {
    const p = positions.get(key);
    points.push([p.x, p.mid], [p.x + NODE_W, p.mid]);
  }
  points.push([to.x - 2, to.mid]);
  let d = `M${points[0][0]} ${points[0][1]}`;
  for (let i = 1; i < points.length; i += 1) {
    const [x1, y1] = points[i - 1];
    const [x2, y2] = points[i];
    if (i % 2 === 0) d += `L${x2} ${y2}`; // across a waypoint's column
    else {
      const bend = Math.max(12, (x2 - x1) / 2);
      d += `C${x1 + bend} ${y1},${x2 - bend} ${y2},${x2} ${y2}`;
    }
  }
  return d;
}

/** A step's node: a button in its status colour (its name and status are its text). */
export function stepNode(step, onSelect = () => {}) {
  const node = h("button.dag-node", { type: "button", dataset: { step: step.stepId }, "aria-pressed": "false", onclick: () => onSelect(step.stepId) });
  node.append(
    h("span.dag-node-title", null, h("span.dag-node-icon"), h("span.dag-node-name", null, step.name || step.stepId)),
    h("span.dag-node-status"),
    h("span.visually-hidden.dag-node-more"),
  );
  fillNode(node, step);
  return node;
}

function fillNode(node, step) {
  const status = LABEL[step.status] ? step.status : "pending";
  if (node.dataset.status !== status) {
    node.dataset.status = status;
    node.className = `dag-node step-${status}`;
    clear(node.querySelector(".dag-node-icon")).append(icon(ICON[status], status === "running" ? "icon spin" : "icon"));
  }
  const why = step.status === "skipped" || step.status === "cancelled" ? step.reason : null;
  setText(node.querySelector(".dag-node-status"), why ? `${LABEL[status]}: ${why}` : LABEL[status]);
  node.title = why ? `${step.stepId}: ${LABEL[status]}: ${why}` : `${step.stepId}: ${LABEL[status]}`;
  const ups = step.dependsOn || [];
  setText(node.querySelector(".dag-node-more"), `, ${step.kind} step${step.name ? ` ${step.stepId}` : ""}${ups.length ? `, after ${ups.join(", ")}` : ""}`);
}

/** The drawing: `draw(steps)` when the steps change, `update(steps)` for their statuses. */
export class StepGraph {
  constructor({ onSelect }) {
    this.onSelect = onSelect;
    this.nodes = new Map();
    this.edges = [];
    this.svg = document.createElementNS(SVG, "svg");
    this.svg.setAttribute("class", "dag-edges");
    this.svg.setAttribute("aria-hidden", "true");
    this.canvas = h("div.dag-canvas", null, this.svg);
    this.el = h("div.dag", { role: "group", "aria-label": "Steps of the run, by dependency", hidden: true }, this.canvas);
  }

  draw(steps) {
    const { positions, routes, order, width, height } = layout(steps);
    const byId = new Map(steps.map((s) => [s.stepId, s]));
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
    this.svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    this.svg.setAttribute("width", String(width));
    this.svg.setAttribute("height", String(height));
    clear(this.svg);
    const defs = document.createElementNS(SVG, "defs");
    const marker = document.createElementNS(SVG, "marker");
    for (const [k, v] of Object.entries({ id: "dag-arrow", viewBox: "0 0 8 8", refX: "7", refY: "4", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" })) marker.setAttribute(k, v);
    const tip = document.createElementNS(SVG, "path");
    tip.setAttribute("d", "M0 0L8 4L0 8z");
    tip.setAttribute("class", "dag-arrow");
    marker.append(tip);
    defs.append(marker);
    this.svg.append(defs);
    this.edges = [];
    for (const route of routes) {
      const path = document.createElementNS(SVG, "path");
      path.setAttribute("d", edgePath(route, positions));
      path.setAttribute("marker-end", "url(#dag-arrow)");
      path.dataset.from = route.from;
      path.dataset.to = route.to;
      this.svg.append(path);
      this.edges.push(path);
    }
    for (const node of this.nodes.values()) node.remove();
    this.nodes.clear();
    for (const id of order) {
      const p = positions.get(id);
      const node = stepNode(byId.get(id), this.onSelect);
      node.style.left = `${p.x}px`;
      node.style.top = `${p.y}px`;
      node.style.width = `${NODE_W}px`;
      node.style.height = `${NODE_H}px`;
      this.nodes.set(id, node);
      this.canvas.append(node);
    }
    this.update(byId);
  }

  /** Restyle nodes and edges from `steps` (id -> step). */
  update(steps) {
    for (const [id, node] of this.nodes) fillNode(node, steps.get(id));
    for (const path of this.edges) {
      const from = steps.get(path.dataset.from);
      path.setAttribute("class", `dag-edge dag-edge-${from ? from.status : "pending"}`);
    }
  }

  select(id) {
    for (const [other, node] of this.nodes) node.setAttribute("aria-pressed", String(other === id));
  }
}
