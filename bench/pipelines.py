"""Pipelines (issue 14): per-step overhead against bare Temporal, `map` over many items,
and how soon the step after an approval starts.

    .venv/bin/python bench/pipelines.py [--runs 40] [--concurrency 4] [--rounds 3]
                                        [--items 10000] [--approvals 20] [--postgres]

One Temporal dev server started here (SQLite file in a temp folder), a fresh SQLite app
database (or a scratch PostgreSQL one), and jobdeck's API app and worker in this process,
beside a plain temporalio Worker for the baseline, on the same server and event loop.

  (a) per-step overhead, two figures, each against its own bare Temporal baseline and
      each judged on its own (goal >= 0.80 for each):
      - transforms: --runs runs of a 20-step linear pipeline of no-op transforms (each
        `@` over the step before's output), started with POST /api/pipelines/{id}/run,
        --concurrency in flight, done when each run's workflow returns; against --runs
        workflows of a hand-written workflow that runs 20 activities one after another
        (each a JMESPath `@` over the value before), started with start_workflow. A
        small transform is evaluated inside the run's workflow (no activity) and the
        chain's step changes are recorded together, so this figure is mostly jobdeck's
        fixed cost per run against 20 activity round trips: it says little about the
        cost of a step that does I/O, which the next figure measures.
      - http: the same shape with 20 `http` steps, each a GET to a tiny HTTP server this
        bench runs on loopback (allow-listed through pipeline_http_allow, as a deployment
        would); against a hand-written workflow whose 20 activities each do the same GET
        with one httpx client shared by the worker's calls (as the http step does).
        Every step is an activity on both sides: this is the honest per-step overhead
        (step records, the interpreter, the http step's address check).
      Runs/s each side (median of --rounds, sides alternating) and the ratio jobdeck/bare.
  (b) `map` over --items no-op items (a transform step `item` per item): items/s from POST
      to the run's end, and the history events of the run and of the map's job (all its
      runs) per 1,000 items.
  (c) approval -> next step starts: --approvals runs of [approval, transform], one at a
      time; from just before POST .../steps/ok/approve to the `startedAt` of the step after
      it (its row, written as it starts). p50 and p95 (goal p95 < 1 s).

The load average is printed before and after each part, with how many CPUs the machine's
other processes kept busy meanwhile (/proc/stat less this process and the Temporal
server). A run is UNRELIABLE, and judges no goal, when the load at its start is above 1.0
or other processes kept more than 0.25 CPUs busy during a part.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from temporalio import activity, workflow

if __name__ == "__main__" or "bench" not in sys.modules:  # run as a script: bench.* importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))

with workflow.unsafe.imports_passed_through():
    import argparse
    import asyncio
    import os
    import statistics
    import time
    import uuid
    from dataclasses import dataclass
    from datetime import UTC, datetime, timedelta

    import jmespath

STEPS = 20
RATIO_GOAL = 0.80
APPROVAL_P95_GOAL_S = 1.0
START_LOAD_LIMIT = 1.0
OTHERS_CORES_LIMIT = 0.25
WARMUP = 3
RUN_TIMEOUT_S = 600.0


# --- the bare baseline: the same 20 activities in a hand-written workflow ----------------


@activity.defn(name="bench-pipelines.noop")
async def noop_step(value: Any) -> Any:
    return jmespath.search("@", value)


@workflow.defn(name="bench-pipelines-bare")
class BareStepsWorkflow:
    @workflow.run
    async def run(self, value: Any) -> Any:
        for _ in range(STEPS):
            value = await workflow.execute_activity(
                noop_step, value, start_to_close_timeout=timedelta(seconds=60)
            )
        return value


_bare_client: Any = None


@activity.defn(name="bench-pipelines.get")
async def get_step(url: str) -> Any:
    """The bare side of the http figure: one GET with the worker's one client, as the http
    step (and a careful hand-written activity) does."""
    import httpx

    global _bare_client
    if _bare_client is None:
        _bare_client = httpx.AsyncClient(timeout=30, follow_redirects=False, trust_env=False)
    response = await _bare_client.get(url)
    response.raise_for_status()
    return {"status": response.status_code, "body": response.json()}


@workflow.defn(name="bench-pipelines-bare-http")
class BareHttpWorkflow:
    @workflow.run
    async def run(self, url: str) -> Any:
        result = None
        for _ in range(STEPS):
            result = await workflow.execute_activity(
                get_step, url, start_to_close_timeout=timedelta(seconds=60)
            )
        return result


async def start_tiny_server() -> tuple[Any, str]:
    """A loopback HTTP server that answers every request 200 with a small JSON body (one
    request per connection: each call of either side connects anew); returns the
    server and its URL."""
    body = b'{"ok": true}'
    answer = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
        + body
    )

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/step"


def http_spec(url: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [
        {
            "id": f"s{n}",
            "kind": "http",
            "url": url,
            **({"dependsOn": [f"s{n - 1}"]} if n > 1 else {}),
        }
        for n in range(1, STEPS + 1)
    ]
    return {"steps": steps, "outputs": {"last": f"${{steps.s{STEPS}.output.body}}"}}


def linear_spec() -> dict[str, Any]:
    steps = [
        {
            "id": f"s{n}",
            "kind": "transform",
            "expression": "@",
            "input": "${inputs.x}" if n == 1 else f"${{steps.s{n - 1}.output}}",
        }
        for n in range(1, STEPS + 1)
    ]
    return {
        "inputs": {"x": {"type": "object"}},
        "steps": steps,
        "outputs": {"x": f"${{steps.s{STEPS}.output}}"},
    }


MAP_SPEC = {
    "inputs": {"rows": {"type": "array"}},
    "steps": [
        {
            "id": "m",
            "kind": "map",
            "items": "${inputs.rows}",
            "concurrency": 10,
            "step": {"kind": "transform", "expression": "item"},
        }
    ],
    "outputs": {"n": "${steps.m.output.succeeded}"},
}
APPROVAL_SPEC = {
    "steps": [
        {"id": "ok", "kind": "approval"},
        {"id": "next", "kind": "transform", "expression": "`1`", "dependsOn": ["ok"]},
    ]
}


# --- the machine's load ----------------------------------------------------------------


def machine_busy_seconds() -> float:
    """CPU time all CPUs of the machine spent busy so far, from /proc/stat (0 elsewhere)."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first.split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass
class Span:
    """What a part of the bench shared the machine with."""

    load_before: float
    load_after: float
    others_cores: float

    def line(self) -> str:
        return (
            f"load {self.load_before:.2f} -> {self.load_after:.2f}, other processes "
            f"{self.others_cores:.2f} CPUs"
        )


class Watch:
    """Measures a span: the load average before and after, and the CPUs other processes
    kept busy (the machine's busy time less this process's and the Temporal server's)."""

    def __init__(self, own_pids: list[int]) -> None:
        self.own_pids = own_pids

    def _own(self) -> float:
        from _stack import proc_cpu_seconds

        total = 0.0
        for pid in self.own_pids:
            try:
                total += proc_cpu_seconds(pid)
            except OSError:
                pass
        return total

    async def measure(self, body: Any) -> tuple[Any, Span]:
        load_before = os.getloadavg()[0]
        busy, own, started = machine_busy_seconds(), self._own(), time.monotonic()
        result = await body()
        took = max(time.monotonic() - started, 1e-9)
        others = max(0.0, (machine_busy_seconds() - busy) - (self._own() - own)) / took
        return result, Span(load_before, os.getloadavg()[0], others)


def judged(met: bool, reasons: list[str]) -> str:
    if reasons:
        return "UNRELIABLE (not judged)"
    return "MET" if met else "NOT MET"


def pct(values: list[float], q: float) -> float:
    from _stack import percentile

    return percentile(values, q)


# --- the measurement ---------------------------------------------------------------------


async def _history_events(client: Any, workflow_id: str) -> tuple[int, int]:
    """Events of a workflow over all its runs (continue-as-new), and the runs."""
    from temporalio.api.enums.v1 import EventType

    latest = await client.get_workflow_handle(workflow_id).fetch_history()
    run_id = latest.events[0].workflow_execution_started_event_attributes.first_execution_run_id
    events = runs = 0
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        events, runs = events + len(history.events), runs + 1
        last = history.events[-1]
        continued = last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
        attrs = last.workflow_execution_continued_as_new_event_attributes
        run_id = attrs.new_execution_run_id if continued else None
    return events, runs


async def _closed_loop(n: int, concurrency: int, one: Any) -> float:
    """Runs `one()` n times, `concurrency` at once; returns runs/s."""
    todo = list(range(n))
    started = time.perf_counter()

    async def lane() -> None:
        while todo:
            todo.pop()
            await one()

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return n / (time.perf_counter() - started)


async def measure(work: Path, procs: Any, args: argparse.Namespace) -> int:
    import contextlib

    import httpx
    from _stack import load_line, scratch_postgres, start_temporal
    from temporalio.client import Client
    from temporalio.worker import Worker

    from bench.pipelines import (  # by name, for the sandbox
        BareHttpWorkflow,
        BareStepsWorkflow,
        get_step,
        noop_step,
    )
    from jobdeck.admin import create_account
    from jobdeck.api.app import create_app
    from jobdeck.config import Settings
    from jobdeck.registry import load_registry
    from jobdeck.runtime import Runtime
    from jobdeck.store.accounts import Role
    from jobdeck.store.engine import Database
    from jobdeck.store.migrate import upgrade_async
    from jobdeck.worker import build_workers

    start_load = os.getloadavg()[0]
    print(f"pipelines bench   before: {load_line()}")
    address = await start_temporal(procs, work)
    watch = Watch([os.getpid(), *(p.pid for _, p in procs.procs)])
    spans: dict[str, Span] = {}
    async with contextlib.AsyncExitStack() as stack:
        server, url_of_server = await start_tiny_server()
        stack.callback(server.close)
        if args.postgres:
            url = await stack.enter_async_context(scratch_postgres())
        else:
            url = f"sqlite+aiosqlite:///{work / 'jobdeck.db'}"
        await upgrade_async(url)
        db = Database.connect(url)
        stack.push_async_callback(db.dispose)
        account = await create_account(
            db, organization="bench", email="bench@bench.local", name="bench", role=Role.ADMIN
        )
        settings = Settings(
            environment="test",
            data_dir=work,
            database_url=url,
            temporal_address=address,
            task_queue=f"bench-{uuid.uuid4().hex[:8]}",
            pipeline_http_allow=["127.0.0.1"],  # the tiny server of (a)'s http figure
        )
        temporal = await Client.connect(address)
        registry = load_registry(settings.job_type_modules)
        runtime = Runtime.of(settings, db, temporal)
        app = create_app(settings, temporal=temporal, registry=registry)
        await stack.enter_async_context(app.router.lifespan_context(app))
        for worker in build_workers(runtime, registry):
            await stack.enter_async_context(worker)
        bare_queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
        await stack.enter_async_context(
            Worker(
                temporal,
                task_queue=bare_queue,
                workflows=[BareStepsWorkflow, BareHttpWorkflow],
                activities=[noop_step, get_step],
            )
        )
        api = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://bench",
                headers={"Authorization": f"Bearer {account.key}"},
                timeout=60,
            )
        )

        async def save(name: str, spec: dict[str, Any]) -> str:
            response = await api.post("/api/pipelines", json={"name": name, "spec": spec})
            response.raise_for_status()
            return str(response.json()["id"])

        async def run(pipeline_id: str, inputs: dict[str, Any]) -> str:
            response = await api.post(f"/api/pipelines/{pipeline_id}/run", json={"inputs": inputs})
            response.raise_for_status()
            return str(response.json()["id"])

        async def run_to_end(pipeline_id: str, inputs: dict[str, Any]) -> str:
            job_id = await run(pipeline_id, inputs)
            await asyncio.wait_for(
                temporal.get_workflow_handle(job_id).result(), timeout=RUN_TIMEOUT_S
            )
            return job_id

        # (a) per-step overhead
        linear = await save("bench-linear", linear_spec())
        value = {"a": 1}

        async def deck_one() -> None:
            await run_to_end(linear, {"x": value})

        async def bare_one() -> None:
            await temporal.execute_workflow(
                BareStepsWorkflow.run,
                value,
                id=f"bare-{uuid.uuid4().hex}",
                task_queue=bare_queue,
                execution_timeout=timedelta(seconds=RUN_TIMEOUT_S),
            )

        chained = await save("bench-http", http_spec(url_of_server))

        async def deck_http_one() -> None:
            job_id = await run(chained, {})
            handle = temporal.get_workflow_handle(job_id)
            await asyncio.wait_for(handle.result(), timeout=RUN_TIMEOUT_S)

        async def bare_http_one() -> None:
            await temporal.execute_workflow(
                BareHttpWorkflow.run,
                url_of_server,
                id=f"bare-http-{uuid.uuid4().hex}",
                task_queue=bare_queue,
                execution_timeout=timedelta(seconds=RUN_TIMEOUT_S),
            )

        for _ in range(WARMUP):
            for one in (deck_one, bare_one, deck_http_one, bare_http_one):
                await one()
        deck_rates: list[float] = []
        bare_rates: list[float] = []
        deck_http_rates: list[float] = []
        bare_http_rates: list[float] = []

        async def rounds() -> None:
            for index in range(args.rounds):  # alternating which side goes first
                for pair in (
                    [(deck_one, deck_rates), (bare_one, bare_rates)],
                    [(deck_http_one, deck_http_rates), (bare_http_one, bare_http_rates)],
                ):
                    for one, rates in pair if index % 2 == 0 else reversed(pair):
                        rates.append(await _closed_loop(args.runs, args.concurrency, one))

        _, spans["a"] = await watch.measure(rounds)

        # (b) map over many items
        mapping = await save("bench-map", MAP_SPEC)
        rows = list(range(args.items))

        async def map_once() -> tuple[str, float]:
            began = time.perf_counter()
            job_id = await run_to_end(mapping, {"rows": rows})
            return job_id, time.perf_counter() - began

        (map_run, map_s), spans["b"] = await watch.measure(map_once)
        steps = (await api.get(f"/api/jobs/{map_run}/steps")).json()["data"]
        map_job = next(s for s in steps if s["stepId"] == "m")["childJobId"]
        map_result = (await api.get(f"/api/jobs/{map_run}")).json()["result"]
        run_events, _ = await _history_events(temporal, map_run)
        map_events, map_runs = await _history_events(temporal, map_job)

        # (c) approval -> next step starts
        approval = await save("bench-approval", APPROVAL_SPEC)

        async def approvals() -> list[float]:
            waits = []
            for _ in range(args.approvals):
                job_id = await run(approval, {})
                while True:
                    listed = (await api.get(f"/api/jobs/{job_id}/steps")).json()["data"]
                    if any(s["stepId"] == "ok" and s["status"] == "waiting" for s in listed):
                        break
                    await asyncio.sleep(0.02)
                approved_at = datetime.now(UTC)
                decided = await api.post(f"/api/jobs/{job_id}/steps/ok/approve", json={})
                decided.raise_for_status()
                await asyncio.wait_for(
                    temporal.get_workflow_handle(job_id).result(), timeout=RUN_TIMEOUT_S
                )
                listed = (await api.get(f"/api/jobs/{job_id}/steps")).json()["data"]
                started = next(s for s in listed if s["stepId"] == "next")["startedAt"]
                began = datetime.fromisoformat(started.replace("Z", "+00:00"))
                waits.append((began - approved_at).total_seconds())
            return waits

        waits, spans["c"] = await watch.measure(approvals)

    reasons = []
    if start_load > START_LOAD_LIMIT:
        reasons.append(f"load at start {start_load:.2f} > {START_LOAD_LIMIT:.1f}")
    for part, span in spans.items():
        if span.others_cores > OTHERS_CORES_LIMIT:
            reasons.append(f"other processes kept {span.others_cores:.2f} CPUs busy in ({part})")
    backend = "PostgreSQL" if args.postgres else "SQLite"
    deck_rate, bare_rate = statistics.median(deck_rates), statistics.median(bare_rates)
    ratio = deck_rate / bare_rate
    deck_http = statistics.median(deck_http_rates)
    bare_http = statistics.median(bare_http_rates)
    http_ratio = deck_http / bare_http
    p95 = pct(waits, 95) if waits else 0.0
    print()
    print(
        f"pipelines bench: {backend} app database, API and worker in this process, "
        f"Temporal dev server; medians of {args.rounds} round(s)"
    )
    print(f"after: {load_line()}")
    if reasons:
        print(f"UNRELIABLE: {'; '.join(reasons)}. Re-measure on a quiet machine.")
    print()
    print(
        f"(a) per-step overhead: {STEPS}-step linear pipelines, {args.runs} runs a side a "
        f"round, {args.concurrency} in flight ({spans['a'].line()}); each figure judged on "
        "its own"
    )
    figures = (
        ("no-op transforms (inline in the run's workflow)", deck_rates, bare_rates, ratio),
        (
            "http GETs to a loopback server (activities)",
            deck_http_rates,
            bare_http_rates,
            http_ratio,
        ),
    )
    for title, deck_side, bare_side, figure in figures:
        deck_median, bare_median = statistics.median(deck_side), statistics.median(bare_side)
        print(f"  {title}")
        print(
            f"    jobdeck {deck_median:8.2f} runs/s   ({deck_median * STEPS:7.1f} steps/s)   "
            f"rounds: {', '.join(f'{r:.2f}' for r in deck_side)}"
        )
        print(
            f"    bare    {bare_median:8.2f} workflows/s ({bare_median * STEPS:7.1f} "
            f"activities/s) rounds: {', '.join(f'{r:.2f}' for r in bare_side)}"
        )
        print(
            f"    ratio jobdeck/bare {figure:.2f}   goal >= {RATIO_GOAL:.2f}: "
            f"{judged(figure >= RATIO_GOAL, reasons)}"
        )
    print(f"(b) map over {args.items:,} no-op items ({spans['b'].line()})")
    print(f"    {args.items / map_s:9.0f} items/s   ({map_s:.2f} s, POST to the run's end)")
    print(f"    results: {map_result}")
    per_k = (run_events + map_events) * 1000 / max(args.items, 1)
    print(
        f"    history  {per_k:9.1f} events per 1,000 items (the run {run_events}, the map "
        f"job {map_events} in {map_runs} run(s))"
    )
    print(f"(c) approval -> next step starts, {args.approvals} runs ({spans['c'].line()})")
    if waits:
        print(
            f"    p50 {pct(waits, 50) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms   "
            f"max {max(waits) * 1000:7.1f} ms   goal p95 < {APPROVAL_P95_GOAL_S:.0f} s: "
            f"{judged(p95 < APPROVAL_P95_GOAL_S, reasons)}"
        )
    if reasons:
        print(f"\nUNRELIABLE run ({'; '.join(reasons)}): no goal is judged.")
    return 0


def main() -> int:
    from _stack import run_bench

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--runs", type=int, default=40, help="(a) runs a side a round")
    parser.add_argument("--concurrency", type=int, default=4, help="(a) runs in flight")
    parser.add_argument("--rounds", type=int, default=3, help="(a) rounds, sides alternating")
    parser.add_argument("--items", type=int, default=10_000, help="(b) items of the map")
    parser.add_argument("--approvals", type=int, default=20, help="(c) runs")
    parser.add_argument("--postgres", action="store_true", help="the CI PostgreSQL server")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args()
    return run_bench("jobdeck-bench-pipelines-", args.keep, lambda w, p: measure(w, p, args))


if __name__ == "__main__":
    sys.exit(main())
