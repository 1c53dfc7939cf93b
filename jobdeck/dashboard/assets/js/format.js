// Formatting shared by the views: numbers, durations, times, progress, type colours.

export const STATUSES = ["pending", "active", "completed", "failed", "cancelled"];
export const TERMINAL = new Set(["completed", "failed", "cancelled"]);
export const STATUS_LABEL = {
  pending: "Pending",
  active: "Active",
  completed: "Completed",
  failed: "Failed",
  cancelled: "Cancelled",
};

/** ISO time to microseconds since the epoch: the API's and the events' timestamps carry
 * microseconds, and ordering a row update against an event needs all of them. */
export function micros(iso) {
  if (!iso) return 0;
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$/.exec(iso);
  if (!m) return Date.parse(iso) * 1000;
  const frac = `${m[2] || ""}000000`.slice(0, 6);
  return Date.parse(m[1] + (m[3] || "Z")) * 1000 + Number(frac);
}

const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const integerFormat = new Intl.NumberFormat();

export function number(value) {
  if (value === null || value === undefined) return "–";
  return Number.isInteger(value) ? integerFormat.format(value) : numberFormat.format(value);
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const s = Math.max(0, seconds);
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.floor(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.floor(s % 60)).padStart(2, "0")} s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours} h ${String(m % 60).padStart(2, "0")} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** A job's duration now: from its start to its end, or to now while it runs. */
export function jobDuration(job, now = Date.now()) {
  if (!job.startedAt) return null;
  const end = job.finishedAt ? micros(job.finishedAt) / 1000 : now;
  return (end - micros(job.startedAt) / 1000) / 1000;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function shortTime(iso) {
  if (!iso) return "–";
  const date = new Date(micros(iso) / 1000);
  const today = new Date().toDateString() === date.toDateString();
  return today ? timeFormat.format(date) : dateTimeFormat.format(date);
}

export function fullTime(iso) {
  return iso ? fullFormat.format(new Date(micros(iso) / 1000)) : "–";
}

export function relativeTime(iso, now = Date.now()) {
  if (!iso) return "";
  const seconds = Math.round((now - micros(iso) / 1000) / 1000);
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

/** Percent shown for a job's progress: the reported one, 100 for a completed job. */
export function percentOf(job) {
  const p = job.progress;
  if (job.status === "completed") return 100;
  if (!p) return job.status === "pending" ? 0 : null;
  if (p.percent !== null && p.percent !== undefined) return p.percent;
  return null;
}

export function progressText(job) {
  const p = job.progress;
  if (!p) return { completed: "done", pending: "waiting to start" }[job.status] || "";
  const unit = p.unit || "";
  if (p.total !== null && p.total !== undefined)
    return `${number(p.current)}/${number(p.total)} ${unit}`.trim();
  return `${number(p.current)} ${unit}`.trim();
}

export function rate(p) {
  if (!p || p.rate === null || p.rate === undefined) return "–";
  return `${number(p.rate)} ${p.unit || ""}/s`;
}

export function eta(p) {
  if (!p || p.eta === null || p.eta === undefined) return "–";
  return duration(p.eta);
}

// Fixed hues for the built-in types, each its own (at least 20° apart); any other type
// gets a stable hue from its name, taken from the spare hues between them.
const TYPE_HUES = {
  "document-processing": 25,
  "bulk-operation": 55,
  "dataset-validation": 95,
  "workflow-execution": 140,
  "pipeline-map": 345,
  "model-publish": 175,
  "data-conversion": 205,
  "fine-tuning": 265,
  "model-training": 310,
};
const SPARE_HUES = [235, 120, 285, 75, 190, 5, 160, 330, 40, 250, 220];

export function typeHue(type) {
  if (Object.hasOwn(TYPE_HUES, type)) return TYPE_HUES[type];
  let hash = 0;
  for (const char of type) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return SPARE_HUES[hash % SPARE_HUES.length];
}

export function canCancel(job) {
  return job.status === "pending" || job.status === "active";
}

export function canRetry(job) {
  return job.status === "failed" || job.status === "cancelled";
}

export function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
