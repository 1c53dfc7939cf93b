// The stats cards: counts by status, live. Each card is also a button that filters the
// table by its status.
//
// Counts move at once with each event (a job's previous status is known for the jobs in
// view, and inferred from the event's kind for the others) and are then made exact by a
// GET /api/jobs/stats at most once a second while jobs change status.

import { h, setText } from "./dom.js";
import { number, STATUS_LABEL, STATUSES } from "./format.js";

const REFRESH_MS = 1000;
const FROM_BY_KIND = { started: "pending", completed: "active", failed: "active", cancelled: "active" };

export class StatsCards {
  constructor({ load, onPick }) {
    this.load = load;
    this.counts = null;
    this.timer = null;
    this.loading = false;
    this.again = false;
    this.values = {};
    this.cards = {};
    const keys = ["total", ...STATUSES];
    this.el = h(
      "section.stats",
      { "aria-label": "Jobs by status" },
      keys.map((key) => {
        const value = h("span.stat-value", null, "–");
        this.values[key] = value;
        const card = h(
          "button.stat",
          { type: "button", dataset: { status: key }, onclick: () => onPick(key === "total" ? "" : key) },
          h("span.stat-label", null, key === "total" ? "Total" : STATUS_LABEL[key]),
          value,
        );
        this.cards[key] = card;
        return card;
      }),
    );
  }

  setActive(status) {
    for (const [key, card] of Object.entries(this.cards))
      card.setAttribute("aria-pressed", String(key === (status || "total")));
  }

  async refresh() {
    if (this.loading) {
      this.again = true;
      return;
    }
    this.loading = true;
    try {
      this.show(await this.load());
    } catch {
      // The live indicator already says when the API is unreachable; keep the last counts.
    } finally {
      this.loading = false;
      if (this.again) {
        this.again = false;
        this.soon();
      }
    }
  }

  soon() {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.refresh();
    }, REFRESH_MS);
  }

  show(counts) {
    this.counts = { ...counts };
    for (const [key, el] of Object.entries(this.values)) {
      setText(el, number(counts[key] ?? 0));
      this.cards[key].setAttribute("aria-label", `${key === "total" ? "Total" : STATUS_LABEL[key]}: ${counts[key] ?? 0} jobs`);
    }
  }

  /** One feed event: move the counts now, and make them exact soon. */
  event(kind, previousStatus, status) {
    if (!this.counts) return;
    const counts = { ...this.counts };
    if (kind === "created" && !previousStatus) {
      counts.total += 1;
      counts[status] += 1;
    } else {
      const from = previousStatus || FROM_BY_KIND[kind];
      if (!from || from === status) return;
      counts[from] = Math.max(0, counts[from] - 1);
      counts[status] += 1;
    }
    this.show(counts);
    this.soon();
  }
}
