// What the browser knows about jobs, and when the views should redraw.
//
// Jobs come from two sources that may arrive in any order: REST answers (complete records)
// and feed events (the job's changing state at the moment of the event). Each job keeps
// the time of the state it shows (`updatedAt` of a record, `createdAt` of an event, both
// in microseconds), and older news never overwrites newer: a list answer fetched before an
// event but delivered after it does not roll a row back, and a terminal job never becomes
// active again. Views are told which jobs changed at most ten times a second, in an
// animation frame, so a burst of a hundred progress events costs one redraw, not a hundred.

import { micros, TERMINAL } from "./format.js";

const FLUSH_MS = 100;
const STATE_FIELDS = [
  "type",
  "name",
  "status",
  "progress",
  "attempts",
  "error",
  "startedAt",
  "finishedAt",
  "retryOf",
  "stuck",
];

export class JobStore {
  constructor() {
    this.jobs = new Map();
    this.stamps = new Map();
    this.dirty = new Set();
    this.listeners = new Set();
    this.frame = null;
    this.lastFlush = -Infinity;
  }

  get(id) {
    return this.jobs.get(id);
  }

  /** A record from the REST API (complete: description, createdAt, result, links). */
  put(record) {
    const stamp = micros(record.updatedAt);
    const known = this.jobs.get(record.id);
    const knownStamp = this.stamps.get(record.id) ?? -1;
    if (!known || stamp >= knownStamp) {
      this.jobs.set(record.id, { ...record, partial: false });
      this.stamps.set(record.id, stamp);
    } else {
      // The event we already applied is newer: keep its state, take the record's rest.
      const merged = { ...record, partial: false };
      for (const field of STATE_FIELDS) merged[field] = known[field];
      this.jobs.set(record.id, merged);
    }
    this.touch(record.id);
    return this.jobs.get(record.id);
  }

  /** A feed event; returns {job, state, previousStatus}, or null when it is older than what
   * we show. A job never seen before is added from the event (partial: no description)
   * when `create`, otherwise left out (job: null). */
  apply(event, { create = true } = {}) {
    const state = event.data && event.data.job;
    if (!state) return null;
    const stamp = micros(event.createdAt);
    const known = this.jobs.get(event.jobId);
    const previousStatus = known ? known.status : null;
    if (known) {
      if (stamp < (this.stamps.get(event.jobId) ?? -1)) return null;
      if (TERMINAL.has(known.status) && !TERMINAL.has(state.status)) return null;
      const next = { ...known };
      for (const field of STATE_FIELDS) if (field in state) next[field] = state[field];
      this.jobs.set(event.jobId, next);
    } else if (!create) {
      return { job: null, state, previousStatus };
    } else {
      this.jobs.set(event.jobId, {
        ...state,
        id: event.jobId,
        description: null,
        createdAt: event.kind === "created" ? event.createdAt : null,
        partial: true,
      });
    }
    const job = this.jobs.get(event.jobId);
    // The watchdog's finding (activities/stuck.py): set by `stuck`, gone with `unstuck` or
    // when the job ends (the watchdog then clears it without an event).
    if (event.kind === "stuck") job.stuck = { reason: event.data.reason, since: event.data.since };
    else if (event.kind === "unstuck" || TERMINAL.has(job.status)) job.stuck = null;
    this.stamps.set(event.jobId, stamp);
    this.touch(event.jobId);
    return { job, state, previousStatus };
  }

  /** Forget jobs no view shows, so a long session does not grow without bound. */
  retainOnly(ids) {
    for (const id of this.jobs.keys()) {
      if (!ids.has(id)) {
        this.jobs.delete(id);
        this.stamps.delete(id);
      }
    }
  }

  touch(id) {
    this.dirty.add(id);
    if (this.frame !== null) return;
    // At most one redraw per FLUSH_MS, in an animation frame: a stream of progress events
    // (a hundred a second) costs ten style-and-layout passes a second, not sixty.
    const wait = Math.max(0, this.lastFlush + FLUSH_MS - performance.now());
    this.frame = setTimeout(() => requestAnimationFrame(() => this.flush()), wait);
  }

  flush() {
    this.frame = null;
    this.lastFlush = performance.now();
    if (!this.dirty.size) return;
    const changed = this.dirty;
    this.dirty = new Set();
    for (const listener of this.listeners) listener(changed);
  }

  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
