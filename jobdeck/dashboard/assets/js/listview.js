// The jobs page: stats cards, filters, the bulk bar, the table and its pager, kept live by
// the feed. Pages come from GET /api/jobs with its keyset cursor (nextCursor), so every
// page costs the same however many jobs there are; the cursors of the pages before are
// kept to go back. The session has one list, which follows every job even while another
// page is shown; JobsPage is the route (/) that shows it.

import { BulkBar } from "./bulk.js";
import { h, setText } from "./dom.js";
import { FilterForm, isFiltered, matches, readFilters, writeFilters } from "./filters.js";
import { TERMINAL } from "./format.js";
import { extraParams, MatchCount, needsApi, SortHeaders } from "./list-extras.js";
import { StatsCards } from "./stats.js";
import { JobsTable } from "./table.js";

const PAGE_SIZE = 50;
const RECONCILE_MS = 300;
const CANCEL_NOTE = "The job stops after its current step; its progress so far is kept.";
const STATUS_KINDS = new Set(["created", "started", "completed", "failed", "cancelled"]);

/** The page of / : the session's jobs list, as it was left (with the URL's filters). */
export class JobsPage {
  constructor({ list, first }) {
    this.list = list;
    this.first = first;
    this.el = list.el;
  }

  start() {
    if (!this.list.started) this.list.start();
    else if (!this.first) this.list.shown();
  }

  destroy() {}

  event() {} // the list has every event already
}

export class ListView {
  constructor({ api, store, toast, confirm, navigate }) {
    this.api = api;
    this.store = store;
    this.toast = toast;
    this.confirm = confirm;
    this.navigate = navigate;
    this.filters = readFilters();
    this.ids = [];
    this.cursors = [null]; // the cursor of each page visited; the last is the current page
    this.nextCursor = null;
    this.selected = new Set();
    this.allMatching = false;
    this.liveInserted = new Map(); // id -> when it was added from the feed
    this.flash = new Set();
    this.newElsewhere = 0;
    this.request = null;
    this.reconcileTimer = null;
    this.loaded = false;
    this.started = false; // see start()

    this.stats = new StatsCards({ load: () => api.stats(), onPick: (status) => this.pickStatus(status) });
    this.form = new FilterForm({ filters: this.filters, onChange: (f) => this.setFilters(f) });
    this.bulk = new BulkBar({
      api,
      confirm,
      toast,
      navigate,
      onSelectAllMatching: () => {
        this.allMatching = true;
        this.syncSelection();
      },
      onClear: () => this.clearSelection(),
    });
    this.bulk.onStarted = () => this.clearSelection();
    this.table = new JobsTable({
      onAction: (action, id, button) => this.action(action, id, button),
      onSelect: (ids, on) => this.select(ids, on),
    });
    this.sortHeaders = new SortHeaders(this.table.headers, (sort) => this.setFilters({ ...this.form.value(), sort }, { fromUrl: true }));
    this.matchCount = new MatchCount();
    this.error = h("p.notice.notice-error", { role: "alert", hidden: true });
    this.newer = h("button.btn.btn-small", { type: "button", onclick: () => this.firstPage() }, "Newest");
    this.prev = h("button.btn.btn-small", { type: "button", disabled: true, onclick: () => this.previousPage() }, "Newer");
    this.next = h("button.btn.btn-small", { type: "button", disabled: true, onclick: () => this.nextPage() }, "Older");
    this.pageLabel = h("span.page-label", { "aria-live": "polite" });
    this.newNotice = h("button.btn.btn-small.btn-link.new-notice", { type: "button", hidden: true, onclick: () => this.firstPage() });
    this.pager = h("nav.pager", { "aria-label": "Pages" }, this.newer, this.prev, this.pageLabel, this.next);
    this.el = h(
      "div.page.page-jobs",
      null,
      h("div.page-head", null, h("h1", null, "Jobs"), this.newNotice, h("a.btn.btn-primary.new-job-link", { href: "/new-job", dataset: { nav: "" } }, "New job")),
      this.stats.el,
      this.form.el,
      this.bulk.el,
      this.matchCount.el,
      this.error,
      this.table.el,
      this.pager,
    );
    this.stats.setActive(this.filters.status);
    this.sortHeaders.show(this.filters.sort);
    store.subscribe((changed) => this.changed(changed));
    this.ticker = setInterval(() => this.table.tick((id) => store.get(id)), 1000);
    this.watchLive();
  }

  /** Durations stop ticking, marked stale, while the live indicator (main.js's setLive
   * writes its data-state) says the feed is not live; they resume when it is again. */
  watchLive() {
    const live = document.getElementById("live");
    if (!live) return;
    const sync = () => {
      const state = live.dataset.state;
      const stale = state === "offline" || state === "reconnecting";
      if (stale !== this.table.stale) this.table.setStale(stale, (id) => this.store.get(id));
    };
    this.liveObserver = new MutationObserver(sync);
    this.liveObserver.observe(live, { attributes: true, attributeFilter: ["data-state"] });
    sync();
  }

  /** First shown (JobsPage): load, with the filters of the URL it is shown at. */
  start() {
    this.started = true;
    this.stats.refresh();
    this.api.types().then((types) => this.form.setTypes(types), () => {});
    const filters = readFilters();
    if (JSON.stringify(filters) !== JSON.stringify(this.filters)) return this.setFilters(filters, { fromUrl: true });
    return this.load();
  }

  /** Back on the page (from a job's detail): the URL may carry other filters. */
  shown() {
    const filters = readFilters();
    if (JSON.stringify(filters) !== JSON.stringify(this.filters)) this.setFilters(filters, { fromUrl: true });
    else writeFilters(this.filters);
  }

  get page() {
    return this.cursors.length;
  }

  async load({ reconcile = false } = {}) {
    if (this.request) this.request.abort();
    const controller = new AbortController();
    this.request = controller;
    const startedAt = performance.now();
    const cursor = this.cursors[this.cursors.length - 1];
    const params = {
      limit: PAGE_SIZE,
      cursor,
      q: this.filters.q,
      status: this.filters.status,
      type: this.filters.type,
      ...extraParams(this.filters, isFiltered(this.filters)),
    };
    this.el.setAttribute("aria-busy", "true");
    let answer;
    try {
      answer = await this.api.listJobs(params, controller.signal);
    } catch (err) {
      if (err.name === "AbortError") return;
      this.error.hidden = false;
      setText(this.error, `Could not load jobs: ${err.message}`);
      this.el.removeAttribute("aria-busy");
      return;
    } finally {
      if (this.request === controller) this.request = null;
    }
    // No body to read (the page is closing, the connection dropped mid-answer): nothing to show.
    if (!answer) {
      this.el.removeAttribute("aria-busy");
      return;
    }
    this.error.hidden = true;
    for (const record of answer.data) this.store.put(record);
    let ids = answer.data.map((job) => job.id);
    if (this.filters.status) {
      // A row whose newer state (from the feed) no longer has a status asked for stays out.
      const wanted = this.filters.status.split(",");
      ids = ids.filter((id) => wanted.includes(this.store.get(id).status));
    }
    if (reconcile) {
      // Rows the feed added while this request was in flight stay (no row blinks out).
      const fresh = [...this.liveInserted].filter(([id, at]) => at >= startedAt && !ids.includes(id));
      ids = [...fresh.map(([id]) => id), ...ids];
    } else {
      this.selected.clear();
      this.allMatching = false;
    }
    this.liveInserted.clear();
    this.ids = ids;
    this.nextCursor = answer.nextCursor;
    this.matchCount.show(answer.total, answer.totalCapped);
    this.render();
    this.el.removeAttribute("aria-busy");
    this.loaded = true;
    performance.mark("jobdeck:table-rendered", { detail: { rows: ids.length, reconcile } });
    document.dispatchEvent(new CustomEvent("jobdeck:rendered", { detail: { rows: ids.length, reconcile } }));
  }

  /** The empty list's first steps: start a job here, or from the CLI or curl. */
  firstSteps() {
    if (this.firstStepsEl) return this.firstStepsEl;
    const sample = { action: "cancel", filter: { statuses: ["active"], q: "nothing-matches" } };
    const body = JSON.stringify({ type: "bulk-operation", name: "my first job", data: sample });
    const start = h("button.btn.btn-primary", { type: "button" }, "Start a sample job");
    start.addEventListener("click", async () => {
      start.disabled = true;
      try {
        const job = await this.api.createJob(JSON.parse(body));
        this.navigate(`/jobs/${encodeURIComponent(job.id)}`);
      } catch (err) {
        this.toast(`Could not start the job: ${err.message}`, "error");
        start.disabled = false;
      }
    });
    const origin = window.location.origin;
    this.firstStepsEl = h(
      "div.first-steps",
      null,
      h("p", null, "No jobs yet. Jobs appear here live as they are created. To start one:"),
      start,
      h("p", null, "from a terminal, with the jobdeck command:"),
      h("pre.json", null, `jobdeck jobs create bulk-operation "my first job" --data '${JSON.stringify(sample)}'`),
      h("p", null, "or over HTTP, with your API key:"),
      h(
        "pre.json",
        null,
        `curl -X POST ${origin}/api/jobs -H "Authorization: Bearer $JOBDECK_API_KEY" \\\n  -H "Content-Type: application/json" -d '${body}'`,
      ),
      h("p", null, "Every job type and its input: ", h("a", { href: "/docs" }, "the API reference"), "."),
    );
    return this.firstStepsEl;
  }

  render() {
    const jobs = this.ids.map((id) => this.store.get(id)).filter(Boolean);
    const emptyText = isFiltered(this.filters) ? "No jobs match these filters." : this.firstSteps();
    this.table.render(jobs, { selected: this.selected, flash: this.flash, emptyText });
    this.flash.clear();
    this.store.retainOnly(new Set([...this.ids, ...this.extraIds()]));
    this.newer.hidden = this.page <= 2;
    this.prev.disabled = this.page === 1;
    this.next.disabled = !this.nextCursor;
    setText(this.pageLabel, `Page ${this.page}`);
    this.syncSelection();
    this.showNewNotice();
  }

  /** "N new jobs — show": jobs created live while a later page is shown; it goes back to page 1. */
  showNewNotice() {
    setText(this.newNotice, `${this.newElsewhere} new job${this.newElsewhere === 1 ? "" : "s"} — show the newest`);
    this.newNotice.hidden = this.newElsewhere === 0 || this.page === 1;
  }

  /** Jobs other views hold on to (the followed bulk operation, an open detail). */
  extraIds() {
    const ids = [];
    if (this.bulk.op) ids.push(this.bulk.op.id);
    if (this.keep) ids.push(...this.keep());
    return ids;
  }

  changed(changed) {
    const visible = this.ids.filter((id) => changed.has(id)).map((id) => this.store.get(id)).filter(Boolean);
    if (visible.length) this.table.update(visible, this.selected);
    if (this.bulk.op && changed.has(this.bulk.op.id)) {
      const job = this.store.get(this.bulk.op.id);
      if (job) this.bulk.update(job);
    }
  }

  /** One event from the feed. Rows enter and leave the list as their jobs start or stop
   * matching its filters (a job created while "pending or active" is shown appears, and
   * leaves when it completes; one that fails while "failed" is shown appears). */
  event(event) {
    const state = event.data && event.data.job;
    if (!state) return;
    if (!this.started) {
      // Not shown yet: only the jobs other pages follow are kept up to date.
      this.store.apply(event, { create: false });
      return;
    }
    const id = event.jobId;
    const known = this.store.get(id);
    const shown = this.ids.includes(id);
    const isNew = event.kind === "created" && !known;
    // Only a change of status can make a job start matching (its name, type and
    // description do not change), so other events of jobs not shown are left out.
    const mayEnter = !shown && (isNew || STATUS_KINDS.has(event.kind));
    if (needsApi(this.filters)) return this.eventPlacedByApi(event, shown, mayEnter);
    const candidate = { ...(known || {}), ...state, description: known ? known.description : null };
    const fits = mayEnter && matches(candidate, this.filters);
    let insert = false;
    if (mayEnter) {
      if (fits && this.page === 1) {
        // A new job is the newest; an older one that now matches belongs on this page only
        // when the page holds every match (no next page): otherwise the API places it.
        if (isNew || !this.nextCursor) insert = true;
        else this.reconcileSoon();
      } else if (fits) {
        if (isNew) {
          this.newElsewhere += 1;
          this.showNewNotice();
        }
      } else if (this.page === 1 && this.filters.q && !(known && known.description !== null)) {
        // The search may match its description, which events do not carry: ask the API.
        if (matches(candidate, { ...this.filters, q: "" })) this.reconcileSoon();
      }
    }
    const followed = this.bulk.op && this.bulk.op.id === id;
    const applied = this.store.apply(event, { create: insert || followed });
    if (!applied) return;
    if (STATUS_KINDS.has(event.kind)) this.stats.event(event.kind, applied.previousStatus, state.status);
    if (insert && applied.job) {
      this.ids = [id, ...this.ids];
      this.liveInserted.set(id, performance.now());
      this.flash.add(id);
      this.render();
      this.reconcileSoon(); // fills in its description and created time, trims the page
    } else if (shown && applied.job && !matches(applied.job, this.filters)) {
      // It no longer matches (it completed while only active jobs are shown): it leaves.
      this.ids = this.ids.filter((other) => other !== id);
      this.liveInserted.delete(id);
      this.render();
      if (this.page === 1 && this.nextCursor) this.reconcileSoon(); // refill the page
    }
    if (followed && TERMINAL.has(state.status)) {
      this.api.job(id).then((job) => this.bulk.update(this.store.put(job)), () => {});
    }
  }

  /** An event while the list is sorted otherwise or filtered by what events do not carry
   * (priority, owner, creation time): rows change in place, and the API places the rest
   * (a status change moves a row when sorted by status or duration). */
  eventPlacedByApi(event, shown, mayEnter) {
    const state = event.data.job;
    const followed = this.bulk.op && this.bulk.op.id === event.jobId;
    const applied = this.store.apply(event, { create: followed });
    if (applied && STATUS_KINDS.has(event.kind)) this.stats.event(event.kind, applied.previousStatus, state.status);
    if (event.kind === "created" && !shown && this.page > 1 && matches({ ...state }, { ...this.filters, priority: "", owner: "" })) {
      this.newElsewhere += 1;
      this.showNewNotice();
    }
    if ((mayEnter || (shown && STATUS_KINDS.has(event.kind))) && this.page === 1) this.reconcileSoon();
    if (followed && TERMINAL.has(state.status)) {
      this.api.job(event.jobId).then((job) => this.bulk.update(this.store.put(job)), () => {});
    }
  }

  snapshot(message) {
    for (const job of message.jobs || []) if (this.store.get(job.id)) this.store.put(job);
  }

  /** The feed is back after a drop: its replay brought the rows up to date; make the
   * counts and the first page exact too. */
  resumed() {
    if (!this.started) return;
    this.stats.refresh();
    if (this.page === 1 && this.loaded) this.reconcileSoon(0);
  }

  reconcileSoon(delay = RECONCILE_MS) {
    if (this.reconcileTimer !== null) return;
    this.reconcileTimer = setTimeout(() => {
      this.reconcileTimer = null;
      if (this.page === 1) this.load({ reconcile: true });
    }, delay);
  }

  setFilters(filters, { fromUrl = false } = {}) {
    this.filters = filters;
    if (fromUrl) this.form.set(filters);
    writeFilters(filters);
    this.stats.setActive(filters.status);
    this.sortHeaders.show(filters.sort);
    this.cursors = [null];
    this.newElsewhere = 0;
    return this.load();
  }

  pickStatus(status) {
    const filters = { ...this.form.value(), status };
    this.form.set(filters);
    this.setFilters(filters);
  }

  firstPage() {
    this.cursors = [null];
    this.newElsewhere = 0;
    return this.load().then(() => this.table.el.scrollIntoView({ block: "nearest" }));
  }

  nextPage() {
    if (!this.nextCursor) return;
    this.cursors.push(this.nextCursor);
    return this.load().then(() => this.scrollToTop());
  }

  previousPage() {
    if (this.cursors.length === 1) return;
    this.cursors.pop();
    return this.load().then(() => this.scrollToTop());
  }

  /** After paging, the new page is read from its first row: bring the table's top into
   * view, below the sticky top bar (the table's scroll-margin-top). */
  scrollToTop() {
    const bar = document.querySelector(".topbar");
    const below = bar ? bar.getBoundingClientRect().bottom : 0;
    if (this.table.el.getBoundingClientRect().top < below) this.table.el.scrollIntoView({ block: "start" });
  }

  select(ids, on) {
    for (const id of ids) {
      if (on) this.selected.add(id);
      else this.selected.delete(id);
    }
    if (!on) this.allMatching = false;
    this.syncSelection();
  }

  clearSelection() {
    this.selected.clear();
    this.allMatching = false;
    this.syncSelection();
  }

  syncSelection() {
    for (const id of [...this.selected]) if (!this.ids.includes(id)) this.selected.delete(id);
    this.table.syncSelection(this.selected);
    this.bulk.setSelection({
      ids: this.selected,
      allMatching: this.allMatching,
      filters: this.filters,
      pageCount: this.ids.length,
      hasMore: Boolean(this.nextCursor) || this.page > 1,
    });
  }

  async action(action, id, button) {
    const job = this.store.get(id);
    const name = job ? job.name : id;
    if (action === "cancel" && !(await this.confirm(`Cancel “${name}”?`, CANCEL_NOTE, "Cancel it", "Keep it"))) return;
    button.disabled = true;
    try {
      if (action === "cancel") {
        this.store.put(await this.api.cancel(id));
        this.toast(`Cancelling “${job ? job.name : id}”…`);
      } else if (action === "retry") {
        const retry = await this.api.retry(id);
        this.toast(`Retry of “${retry.name}” started.`, "info", { href: `/jobs/${retry.id}`, text: "View the new job" });
      }
    } catch (err) {
      this.toast(`Could not ${action} “${job ? job.name : id}”: ${err.message}`, "error");
    } finally {
      button.disabled = false;
    }
  }
}
