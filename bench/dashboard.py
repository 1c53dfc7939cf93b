"""The dashboard with 100,000 jobs in the database (or 1,000,000), measured in a real browser.

    .venv/bin/python bench/dashboard.py [--jobs 100000] [--database-url URL] [--seconds 10]
        [--days 30]

The operator's figures (issue 18), with 1,000,000 jobs in PostgreSQL:

    .venv/bin/python bench/dashboard.py --jobs 1000000 --seconds 60 \
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench_dashboard

Rows are written straight into the jobs table (bulk SQL, no Temporal), then the API is
served by uvicorn and Debian's Chromium (Playwright, /usr/bin/chromium) opens the
dashboard. Figures, all taken inside the browser:

- first render: navigation start to the table's first render (the app's
  `jobdeck:table-rendered` performance mark), then to the next painted frame;
- filter: from changing a filter to the re-rendered table (status, type, search on Enter,
  and search while typing, which includes the 200 ms typing debounce);
- frame budget while 100 progress events per second arrive over the feed (written
  through the store, so each is a job-row update plus its event, tailed and pushed like
  any other): long tasks (PerformanceObserver `longtask`, i.e. over 50 ms), the longest
  gap between animation frames, and that every event arrived.

It also times the API calls the page makes (GET /api/jobs, /api/jobs/stats) from Python.
Goals (issue 6): first render < 1 s, filter < 300 ms, no long task > 50 ms.

Issue 18 adds: sorting by the Duration, Status and Created headers and the priority filter
(goal < 300 ms, like a filter), the Operations page's chart of a week (navigation to
drawn, and switching its range to a week; goal < 500 ms), the API calls behind them, and
the query plans of the week's aggregates and of the duration sort (which index each uses).
On PostgreSQL the table is VACUUM ANALYZEd after the fill, as autovacuum would have done
on a database that grew to this size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from playwright.async_api import Page, async_playwright
from sqlalchemy import insert

from jobdeck.admin import create_account
from jobdeck.api.app import create_app
from jobdeck.clock import utcnow
from jobdeck.config import Settings
from jobdeck.domain import EventKind, Progress
from jobdeck.store import jobs as job_store
from jobdeck.store import operations as ops_store
from jobdeck.store.accounts import Role
from jobdeck.store.engine import Database
from jobdeck.store.migrate import upgrade_async
from jobdeck.store.tables import Job

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TYPES = [
    "data-conversion",
    "fine-tuning",
    "workflow-execution",
    "document-processing",
    "model-training",
    "bulk-operation",
]
WORDS = ["invoice", "tickets", "contracts", "embeddings", "catalogue", "nightly", "support", "eval"]
STATUSES = (
    ["completed"] * 80 + ["failed"] * 8 + ["cancelled"] * 5 + ["pending"] * 2 + ["active"] * 5
)
LIVE_JOBS = 20  # active jobs on the first page that the event stream updates

# Collected in the page from its first script on: long tasks and animation-frame gaps.
OBSERVE = """
window.__bench = {longTasks: [], frames: 0, maxGap: 0, recording: false};
new PerformanceObserver((list) => {
  for (const e of list.getEntries())
    window.__bench.longTasks.push({start: e.startTime, duration: e.duration});
}).observe({type: "longtask", buffered: true});
(() => {
  let last = performance.now();
  const loop = (t) => {
    const b = window.__bench;
    if (b.recording) { b.frames += 1; b.maxGap = Math.max(b.maxGap, t - last); }
    last = t;
    requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
})();
"""

RECORD = """() => { const b = window.__bench; b.longTasks = []; b.frames = 0; b.maxGap = 0;
  b.recording = true; }"""
STOP = "() => { const b = window.__bench; b.recording = false; return b; }"

FIRST_RENDER = """async () => {
  const waitMark = () => new Promise((resolve) => {
    const found = performance.getEntriesByName("jobdeck:table-rendered");
    if (found.length) return resolve(found[0].startTime);
    document.addEventListener("jobdeck:rendered", () =>
      resolve(performance.getEntriesByName("jobdeck:table-rendered")[0].startTime), {once: true});
  });
  const rendered = await waitMark();
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  return {rendered, painted: performance.now(),
          rows: document.querySelectorAll("tbody tr").length};
}"""

APPLY_FILTER = """async ([kind, value]) => {
  const rendered = new Promise((resolve) =>
    document.addEventListener("jobdeck:rendered", (e) => resolve([performance.now(), e.detail]),
                              {once: true}));
  const t0 = performance.now();
  if (kind === "status" || kind === "type" || kind === "priority") {
    const select = document.getElementById(`f-${kind}`);
    select.value = value;
    select.dispatchEvent(new Event("change"));
  } else {
    const input = document.getElementById("f-q");
    input.value = value;
    input.dispatchEvent(new Event("input"));
    if (kind === "search-enter") input.form.requestSubmit();
  }
  const [t1, detail] = await rendered;
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  return {rendered: t1 - t0, painted: performance.now() - t0, rows: detail.rows};
}"""


TRACE = ["devtools.timeline", "disabled-by-default-devtools.timeline"]


def long_task_cpu(path: Path) -> list[float]:
    """Thread CPU time (ms) of each renderer main-thread task longer than 50 ms of wall
    time: on a busy machine a task's wall time includes time without a core."""
    data = json.loads(path.read_text())
    events = data["traceEvents"] if isinstance(data, dict) else data
    main = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("ph") == "M"
        and e.get("name") == "thread_name"
        and e["args"].get("name") == "CrRendererMain"
    }
    return [
        e.get("tdur", 0) / 1000
        for e in events
        if (e.get("pid"), e.get("tid")) in main
        and e.get("ph") == "X"
        and e.get("name") in ("RunTask", "ThreadControllerImpl::RunTask")
        and e.get("dur", 0) > 50_000
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def fill(
    db: Database, organization_id: str, user_id: str, count: int, days: float = 30
) -> list[str]:
    """`count` jobs over the last `days` days, newest LIVE_JOBS active; returns those ids."""
    rng = random.Random(6)
    now = utcnow()
    spacing = days * 86_400 / count
    live: list[str] = []
    batch: list[dict[str, Any]] = []
    async with db.write() as session:
        for i in range(count):
            newest = i >= count - LIVE_JOBS
            status = "active" if newest else rng.choice(STATUSES)
            created = now - timedelta(seconds=(count - i) * spacing)
            started = created + timedelta(seconds=1) if status != "pending" else None
            finished = (
                started + timedelta(seconds=rng.uniform(1, 600))
                if started and status not in ("active", "pending")
                else None
            )
            total = rng.choice([100, 1000, 48213])
            current = total if status == "completed" else rng.randint(0, total)
            job_id = str(uuid.uuid4())
            if newest:
                live.append(job_id)
            words = rng.sample(WORDS, 2)
            batch.append(
                {
                    "id": job_id,
                    "organization_id": organization_id,
                    "user_id": user_id,
                    "type": rng.choice(TYPES),
                    "name": f"{words[0]} {words[1]} #{i:06d}",
                    "description": f"bench job {i} of {count}",
                    "status": status,
                    "priority": 1 + i % 5,
                    "data": {"i": i},
                    "result": {"rows": current} if status == "completed" else None,
                    "error": {"type": "BenchError", "message": "synthetic"}
                    if status == "failed"
                    else None,
                    "progress": Progress(current, total, "rows", "working").to_json()
                    if status != "pending"
                    else None,
                    "attempts": 1,
                    "created_at": created,
                    "updated_at": finished or started or created,
                    "started_at": started,
                    "finished_at": finished,
                }
            )
            if len(batch) == 5000:
                await session.execute(insert(Job), batch)
                batch = []
        if batch:
            await session.execute(insert(Job), batch)
    return live


async def stream_progress(
    db: Database, job_ids: list[str], per_second: int, seconds: float, writers: int = 5
) -> int:
    """Write `per_second` progress updates (row + event) spread over the live jobs, from a
    few concurrent writers (one PostgreSQL commit takes longer than 10 ms)."""

    async def writer(ids: list[str], rate: float) -> int:
        sent = 0
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            job_id = ids[sent % len(ids)]
            current = 100 + sent // len(ids)
            async with db.write() as session:
                await job_store.change_job(
                    session,
                    job_id=job_id,
                    kind=EventKind.PROGRESS,
                    now=datetime.now(UTC),
                    values={"progress": Progress(current, 1000, "rows", "working").to_json()},
                )
            sent += 1
            await asyncio.sleep(max(0.0, start + sent / rate - time.monotonic()))
        return sent

    groups = [job_ids[i::writers] for i in range(writers)]
    counts = await asyncio.gather(*(writer(g, per_second / writers) for g in groups))
    return sum(counts)


async def time_api(base: str, key: str) -> dict[str, float]:
    calls = {
        "GET /api/jobs (first page)": ("/api/jobs", {"limit": 50}),
        "GET /api/jobs?status=failed": ("/api/jobs", {"limit": 50, "status": "failed"}),
        "GET /api/jobs?type=fine-tuning": ("/api/jobs", {"limit": 50, "type": "fine-tuning"}),
        "GET /api/jobs?q=invoice": ("/api/jobs", {"limit": 50, "q": "invoice"}),
        "GET /api/jobs?q=<no match>": ("/api/jobs", {"limit": 50, "q": "zzz-nothing"}),
        "GET /api/jobs/stats": ("/api/jobs/stats", {}),
        # The operator's list (issue 18): sorts, a time range, a priority, a count.
        "GET /api/jobs?sort=-duration": ("/api/jobs", {"limit": 50, "sort": "-duration"}),
        "GET /api/jobs?sort=duration": ("/api/jobs", {"limit": 50, "sort": "duration"}),
        "GET /api/jobs?sort=status": ("/api/jobs", {"limit": 50, "sort": "status"}),
        "GET /api/jobs?sort=-status": ("/api/jobs", {"limit": 50, "sort": "-status"}),
        "GET /api/jobs?priority=1": ("/api/jobs", {"limit": 50, "priority": "1"}),
        "GET /api/jobs?created_after=-7d&count": (
            "/api/jobs",
            {"limit": 50, "count": "true", "created_after": WEEK_AGO},
        ),
        "GET /api/jobs?status=failed&count": (
            "/api/jobs",
            {"limit": 50, "count": "true", "status": "failed"},
        ),
        "GET /api/stats/timeseries?range=hour": ("/api/stats/timeseries", {"range": "hour"}),
        "GET /api/stats/timeseries?range=day": ("/api/stats/timeseries", {"range": "day"}),
        "GET /api/stats/timeseries?range=week": ("/api/stats/timeseries", {"range": "week"}),
        "GET /api/stats/timeseries?range=week&type": (
            "/api/stats/timeseries",
            {"range": "week", "type": "fine-tuning"},
        ),
    }
    out = {}
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}) as c:
        for label, (path, params) in calls.items():
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                (await c.get(path, params=params)).raise_for_status()
                times.append((time.perf_counter() - t0) * 1000)
            out[label] = statistics.median(times)
    return out


WEEK_AGO = (utcnow() - timedelta(days=7)).isoformat()

SORT_BY = """async ([header]) => {
  const rendered = new Promise((resolve) =>
    document.addEventListener("jobdeck:rendered", (e) => resolve([performance.now(), e.detail]),
                              {once: true}));
  const t0 = performance.now();
  const button = [...document.querySelectorAll("th .sort-button")]
    .find((b) => b.textContent.startsWith(header));
  button.click();
  const [t1, detail] = await rendered;
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  return {rendered: t1 - t0, painted: performance.now() - t0, rows: detail.rows,
          sort: new URLSearchParams(location.search).get("sort") || "-created"};
}"""

CHART = """async ([range]) => {
  const drawn = new Promise((resolve) =>
    document.addEventListener("jobdeck:chart-drawn", () => resolve(performance.now()),
                              {once: true}));
  const t0 = performance.now();
  const select = document.getElementById("ops-range");
  select.value = range;
  select.dispatchEvent(new Event("change"));
  const t1 = await drawn;
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  return {drawn: t1 - t0, painted: performance.now() - t0};
}"""

CHART_FIRST = """async () => {
  const found = () => performance.getEntriesByName("jobdeck:chart-drawn");
  if (!found().length)
    await new Promise((resolve) =>
      document.addEventListener("jobdeck:chart-drawn", resolve, {once: true}));
  const drawn = found()[0].startTime;
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  return {drawn, painted: performance.now()};
}"""


async def explain(db: Database, organization_id: str) -> None:
    """The PostgreSQL plans of the week's chart queries and of the duration sort."""
    from sqlalchemy import text

    week = "now() - interval '7 days'"
    queries = {
        # The same expressions as jobdeck/store/operations.py's timeseries.
        "created per hour (week)": f"""SELECT date_bin('1 hour', created_at,
            '1970-01-01 00:00:00+00'), count(*) FROM jobs WHERE organization_id = :org
            AND created_at >= {week} GROUP BY 1""",
        "finished per hour (week)": f"""SELECT date_bin('1 hour', finished_at,
            '1970-01-01 00:00:00+00'), status, count(*) FROM jobs
            WHERE organization_id = :org AND finished_at >= {week}
            AND status IN ('completed', 'failed', 'cancelled') GROUP BY 1, 2""",
        "duration percentiles (week)": f"""SELECT type, percentile_cont(0.5) WITHIN GROUP
            (ORDER BY date_part('epoch', finished_at - started_at)) FROM jobs
            WHERE organization_id = :org AND finished_at >= {week}
            AND status IN ('completed', 'failed', 'cancelled') AND started_at IS NOT NULL
            GROUP BY type""",
        "sort=-duration, first page": """SELECT id FROM jobs WHERE organization_id = :org
            ORDER BY coalesce(CAST(round(extract(epoch FROM finished_at - started_at) * 1000)
            AS BIGINT), -1) DESC, created_at DESC, id DESC LIMIT 51""",
        "sort=status, first page": """SELECT id FROM jobs WHERE organization_id = :org
            ORDER BY status, created_at, id LIMIT 51""",
    }
    async with db.read() as session:
        for label, sql in queries.items():
            rows = await session.execute(
                text(f"EXPLAIN (ANALYZE, BUFFERS OFF) {sql}"), {"org": organization_id}
            )
            plan = [r[0] for r in rows]
            used = sorted(
                {
                    w
                    for line in plan
                    for w in line.replace("(", " ").split()
                    if w.startswith("ix_jobs")
                }
            )
            total = next((line for line in plan if line.startswith("Execution Time")), "")
            print(f"  {label:30s} {', '.join(used) or 'no index':40s} {total}")


async def first_render(page: Page, url: str, runs: int) -> list[dict[str, float]]:
    results = []
    for _ in range(runs):
        await page.goto(url)
        results.append(await page.evaluate(FIRST_RENDER))
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file")
    parser.add_argument("--rate", type=int, default=100, help="progress events per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--days", type=float, default=30, help="the jobs' creation span")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="jobdeck-bench-dashboard-"))
    url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'jobdeck.db'}"
    await upgrade_async(url)
    settings = Settings(environment="test", data_dir=tmp, database_url=url, ws_heartbeat_s=5)
    db = Database.connect(url)
    account = await create_account(
        db,
        organization=f"bench-{uuid.uuid4().hex[:6]}",
        email=f"b-{uuid.uuid4().hex[:6]}@x.io",
        name="Bench",
        role=Role.ADMIN,
    )
    t0 = time.perf_counter()
    live = await fill(db, account.organization_id, account.user_id, args.jobs, args.days)
    print(f"inserted {args.jobs:,} jobs in {time.perf_counter() - t0:.1f} s ({url.split(':')[0]})")
    if url.startswith("postgresql"):
        from sqlalchemy import text

        async with db.writer_engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE jobs"))
        print("\nquery plans (PostgreSQL EXPLAIN ANALYZE):")
        await explain(db, account.organization_id)

    # What an API process does shortly after it starts (api/chart_warmer.py): the charts'
    # sealed buckets counted once; timed here, so that the pages below see the steady state.
    t0 = time.perf_counter()
    await ops_store.warm(db, now=utcnow())
    print(
        f"\ncharts: the sealed buckets of the last hour, day and week counted (once, cold) "
        f"in {time.perf_counter() - t0:.2f} s"
    )

    app = create_app(settings)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with app.router.lifespan_context(app):
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
        )
        serving = asyncio.create_task(server.serve())
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.02)
        try:
            print("\nAPI (median of 5, from Python):")
            for label, ms in (await time_api(base, account.key)).items():
                print(f"  {label:32s} {ms:7.1f} ms")
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(
                    executable_path=args.chromium, args=CHROMIUM_ARGS
                )
                # bypass_csp: Playwright's wait_for_function evaluates strings, which the
                # dashboard's Content-Security-Policy (rightly) forbids to page scripts.
                context = await browser.new_context(
                    viewport={"width": 1360, "height": 900}, bypass_csp=True
                )
                await context.add_init_script(
                    f"sessionStorage.setItem('jobdeck.apiKey', {account.key!r});" + OBSERVE
                )
                page = await context.new_page()
                await page.goto(base + "/")  # warm: the module files cached (304s after)
                await page.evaluate(FIRST_RENDER)
                renders = await first_render(page, base + "/", 5)
                print("\nfirst render of the table (navigation start → rendered / painted):")
                for r in renders:
                    print(f"  {r['rendered']:6.0f} ms / {r['painted']:6.0f} ms, {r['rows']} rows")
                worst = max(r["painted"] for r in renders)
                print(f"  worst painted: {worst:.0f} ms   goal < 1000 ms")

                cold = await browser.new_context(viewport={"width": 1360, "height": 900})
                await cold.add_init_script(
                    f"sessionStorage.setItem('jobdeck.apiKey', {account.key!r});"
                )
                cold_page = await cold.new_page()
                [cold_render] = await first_render(cold_page, base + "/", 1)
                print(f"  cold cache: {cold_render['painted']:.0f} ms painted")
                await cold.close()

                print("\napply a filter (change → rendered / painted):")
                filters = [
                    ("status", "failed"),
                    ("status", ""),
                    ("type", "fine-tuning"),
                    ("type", ""),
                    ("search-enter", "invoice"),
                    ("search-enter", ""),
                    ("search-typed", "contracts"),
                    ("search-typed", ""),
                    ("search-enter", "zzz-nothing"),
                    ("search-enter", ""),
                ]
                worst_filter = 0.0
                for kind, value in filters:
                    r = await page.evaluate(APPLY_FILTER, [kind, value])
                    if kind != "search-typed":
                        worst_filter = max(worst_filter, r["painted"])
                    print(
                        f"  {kind:13s} {value or '(clear)':12s} {r['rendered']:6.0f} ms /"
                        f" {r['painted']:6.0f} ms, {r['rows']} rows"
                    )
                print(
                    f"  worst painted (without the typing debounce): {worst_filter:.0f} ms"
                    "   goal < 300 ms"
                )

                print("\nsort by a column header (click → rendered / painted):")
                worst_sort = 0.0
                for header in ["Duration", "Duration", "Status", "Status", "Created"]:
                    r = await page.evaluate(SORT_BY, [header])
                    worst_sort = max(worst_sort, r["painted"])
                    print(
                        f"  {r['sort']:10s} {r['rendered']:6.0f} ms / {r['painted']:6.0f} ms,"
                        f" {r['rows']} rows"
                    )
                for value in ["1", ""]:
                    r = await page.evaluate(APPLY_FILTER, ["priority", value])
                    worst_sort = max(worst_sort, r["painted"])
                    print(
                        f"  priority={value or '(any)':4s} {r['rendered']:6.0f} ms /"
                        f" {r['painted']:6.0f} ms, {r['rows']} rows"
                    )
                print(f"  worst painted: {worst_sort:.0f} ms   goal < 300 ms")

                print("\nthe Operations page's chart:")
                chart_runs = []
                for _ in range(3):
                    await page.goto(base + "/operations?range=week")
                    chart_runs.append(await page.evaluate(CHART_FIRST))
                for r in chart_runs:
                    print(
                        f"  week, first load (navigation → drawn / painted):"
                        f" {r['drawn']:6.0f} ms / {r['painted']:6.0f} ms"
                    )
                worst_chart = max(r["painted"] for r in chart_runs)
                for range_ in ["hour", "day", "week", "hour", "week"]:
                    r = await page.evaluate(CHART, [range_])
                    if range_ == "week":
                        worst_chart = max(worst_chart, r["painted"] + 0)
                    print(
                        f"  switch to {range_:5s} (change → drawn / painted):"
                        f" {r['drawn']:6.0f} ms / {r['painted']:6.0f} ms"
                    )
                print(
                    f"  worst week painted (switch, and a first load less its navigation):"
                    f" {worst_chart:.0f} ms   goal < 500 ms"
                )

                await page.goto(base + "/")
                await page.evaluate(FIRST_RENDER)
                await page.wait_for_function(
                    "window.jobdeck && window.jobdeck.feed.state === 'connected'"
                )
                # Baseline: the same page for 3 s with no events (what the machine adds).
                await page.evaluate(RECORD)
                await asyncio.sleep(3)
                idle = await page.evaluate(STOP)
                idle_tasks = [t["duration"] for t in idle["longTasks"]]
                print(
                    f"\nidle 3 s: long tasks {len(idle_tasks)}"
                    + (f", longest {max(idle_tasks):.0f} ms" if idle_tasks else "")
                    + f"; frames {idle['frames'] / 3:.0f}/s, longest gap {idle['maxGap']:.0f} ms"
                )
                start_id = await page.evaluate("window.jobdeck.feed.lastEventId")
                await page.evaluate(RECORD)
                trace = tmp / "trace.json"
                await browser.start_tracing(page=page, path=str(trace), categories=TRACE)
                sent = await stream_progress(db, live, args.rate, args.seconds)
                expected = start_id + sent
                await page.wait_for_function(
                    f"window.jobdeck.feed.lastEventId >= {expected}", timeout=30_000
                )
                bench = await page.evaluate(STOP)
                await browser.stop_tracing()
                cpu = long_task_cpu(trace)
                long_tasks = [t["duration"] for t in bench["longTasks"]]
                print(
                    f"\n{sent} progress events in {args.seconds:g} s"
                    f" ({sent / args.seconds:.0f}/s) on {len(live)} visible rows:"
                )
                print(f"  all arrived: last event id {expected}")
                print(
                    f"  long tasks (> 50 ms): {len(long_tasks)}"
                    + (f", longest {max(long_tasks):.0f} ms" if long_tasks else "")
                )
                if cpu:
                    print(
                        f"  main-thread CPU time of the tasks over 50 ms (from a trace): longest"
                        f" {max(cpu):.0f} ms, median {statistics.median(cpu):.0f} ms; the rest"
                        " of their wall time the renderer was waiting for a core"
                    )
                fps = bench["frames"] / args.seconds
                print(f"  frames: {fps:.0f}/s, longest gap between frames {bench['maxGap']:.0f} ms")
                await browser.close()
        finally:
            server.should_exit = True
            await serving
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
