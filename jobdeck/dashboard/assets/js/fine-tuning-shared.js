// What the fine-tuning pages (fine-tuning-list.js, fine-tuning-detail.js, model-detail.js) and
// their parts share: links between them, what a provider takes, a fine-tune's phase, options and
// losses as text, a form field with its hint, and one fact of a facts list.

import { h } from "./dom.js";

/** Whether a provider, or a fine-tune by its `providerOptions`, takes a request section
 * ("hyperparameters", "parameters", "training"): GET /api/fine-tuning/providers gives each
 * provider's `options`, a fine-tune record the same list as `providerOptions`. One that takes
 * "training" trains on jobdeck's own workers (checkpoints, an adapter, no provider job). */
export const takesOption = (options, section) => Array.isArray(options) && options.includes(section);

export const link = (href, label) => h("a", { href, dataset: { nav: "" } }, label);
export const fineTuneHref = (id) => `/fine-tuning/${encodeURIComponent(id)}`;
export const modelHref = (id) => `/fine-tuning/models/${encodeURIComponent(id)}`;
export const datasetHref = (id) => `/datasets/${encodeURIComponent(id)}`;
export const jobHref = (id) => `/jobs/${encodeURIComponent(id)}`;

/** A form field: its label, the input, and the hint that describes it (aria-describedby). */
export const hintedField = (input, label, hint) =>
  h("div.field", null, h("label", { htmlFor: input.id }, label), input, h("span.hint", { id: `${input.id}-hint` }, hint));

/** A term and its description, for a `dl.facts`. */
export const fact = (label, value) => [h("dt", null, label), h("dd", null, value)];

export function phaseChip(phase) {
  return h(`span.phase.phase-${phase || "none"}`, null, phase || "–");
}

/** Options as one line: {epochs: 2, lora: {rank: 4}} → "epochs 2, lora rank 4". */
export function optionsText(options) {
  const parts = [];
  for (const [key, value] of Object.entries(options || {})) {
    if (value === null || value === undefined) continue;
    if (Array.isArray(value)) parts.push(`${key} ${value.join("/")}`);
    else if (typeof value === "object") {
      const inner = optionsText(value);
      if (inner) parts.push(`${key} ${inner}`);
    } else parts.push(`${key} ${value}`);
  }
  return parts.join(", ");
}

export const lossText = (v) => (typeof v === "number" ? (Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(4)) : "–");
