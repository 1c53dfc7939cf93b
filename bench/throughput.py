"""Throughput and latency of jobdeck against bare Temporal, on one dev server per run.

    .venv/bin/python bench/throughput.py [--jobs N] [--untuned] [--compare-tuning]

Default run, against ONE Temporal dev server launched here (tuned unless --untuned):

  (a) jobdeck end to end: a real API process (`python -m jobdeck api`) and a real worker
      process (`python -m jobdeck worker`) on a fresh SQLite app database (--postgres: a
      scratch database on the PostgreSQL server, as at scale). N trivial
      bulk-operation jobs (they match nothing) are created through POST /api/jobs with at
      most --concurrency requests in flight; the run ends when GET /api/jobs/stats counts
      them all completed. Reports jobs/s (first POST -> last completed, as seen by a
      stats poll, every 20 ms for the last jobs) and create-request latency p50/p99.
  (b) bare Temporal baseline: N workflows of a no-op workflow (one no-op activity each),
      started with the temporalio client at the same concurrency and run by a plain
      temporalio Worker in a subprocess (this script with --bare-worker; in process with
      --bare-in-process). Reports workflows/s (first start -> last result).

  Then the ratio jobdeck/bare (goal >= 0.80), whether create p99 < 50 ms, and the idle
  submit-to-done latency: one at a time, --idle-runs times, POST -> job row completed
  (10 ms poll of GET /api/jobs/{id}) for jobdeck and start_workflow -> result for bare.

Each throughput run also prints the CPU time every process spent per job (from /proc):
on a small machine the processes share the CPUs, so the CPU cost ratio predicts the
throughput ratio, and it is far less disturbed by other load than wall-clock rates.
--rounds R repeats the pair of throughput runs (alternating) and reports medians.

--compare-tuning instead runs only the bare baseline twice, on an untuned and then on a
tuned dev server (two servers, one after the other), and prints both and their ratios.

--py-spy PATH samples the jobdeck API and worker during (a) into --profile-dir.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import resource
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow

# The workflow sandbox re-imports this module to run NoopWorkflow: let it reuse these.
with workflow.unsafe.imports_passed_through():
    import httpx
    from _stack import (
        POSTGRES_URL,
        free_port,
        jobdeck_env,
        load_line,
        proc_cpu_seconds,
        run_bench,
        scratch_postgres,
        wait_until,
    )
    from _stack import Processes as SharedProcesses
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.client import Client
    from temporalio.worker import Worker

    from jobdeck.devserver import dev_server_command

BULK_NOTHING = {
    "type": "bulk-operation",
    "name": "b",
    "data": {"action": "cancel", "filter": {"ids": ["none"]}},
}
RATIO_GOAL = 0.80
CREATE_P99_GOAL_MS = 50.0
# A run is UNRELIABLE (no MET printed) when the 1-minute load average at its start is above
# START_LOAD_LIMIT, when the two sides' mean loads are more than SIDE_LOAD_GAP apart, or
# when other processes kept more than OTHERS_CORES_LIMIT CPUs busy during a side.
START_LOAD_LIMIT = 1.0
SIDE_LOAD_GAP = 0.5
OTHERS_CORES_LIMIT = 0.25
OPEN_LOOP_FRACTIONS = (0.25, 0.50, 0.75)
CPU_PER_JOB_GOAL = 1.25  # jobdeck's CPU per job at most 1.25x bare's
WARMUP = 5
STATS_POLL_S = 0.02  # near the end of a throughput run; 0.25 s before
IDLE_POLL_S = 0.01
START_TIMEOUT_S = 60.0
RUN_TIMEOUT_S = 300.0


def script_path() -> Path:
    # Not at import time: the workflow sandbox (which re-imports this module) forbids it.
    return Path(__file__).resolve()


# --- the bare baseline: one workflow class with one no-op activity ---------------------


@activity.defn(name="bench.noop")
async def noop(value: str) -> str:
    return value


@workflow.defn(name="bench-noop")
class NoopWorkflow:
    @workflow.run
    async def run(self, value: str) -> str:
        return await workflow.execute_activity(
            noop, value, start_to_close_timeout=timedelta(seconds=30)
        )


def bare_worker(client: Client, task_queue: str) -> Worker:
    return Worker(client, task_queue=task_queue, workflows=[NoopWorkflow], activities=[noop])


async def bare_worker_main(address: str, task_queue: str) -> None:
    """Body of the bare worker subprocess: run until SIGTERM, say 'ready' once polling."""
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with bare_worker(client, task_queue):
        print("ready", flush=True)
        await stop.wait()


# --- figures ---------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def fmt_ms(values: list[float]) -> str:
    return f"p50 {percentile(values, 50):7.1f} ms  p99 {percentile(values, 99):7.1f} ms"


@dataclass
class Throughput:
    count: int
    seconds: float
    create_ms: list[float] = field(default_factory=list)
    cpu_s: dict[str, float] = field(default_factory=dict)
    load_before: float = 0.0  # 1-minute load average as the side started
    load_after: float = 0.0
    others_cores: float = 0.0  # CPUs the machine's other processes kept busy meanwhile

    @property
    def per_s(self) -> float:
        return self.count / self.seconds

    @property
    def cpu_ms_per_job(self) -> float:
        return sum(self.cpu_s.values()) * 1000 / self.count

    def cpu_line(self) -> str:
        """CPU ms each process spent per job, and how busy the machine's CPUs were."""
        parts = [
            f"{name.split('-bench-')[0]} {secs * 1000 / self.count:.1f}"
            for name, secs in sorted(self.cpu_s.items(), key=lambda kv: -kv[1])
            if secs * 1000 / self.count >= 0.05
        ]
        busy = sum(self.cpu_s.values()) / (self.seconds * (os.cpu_count() or 1))
        return (
            f"CPU ms/job {self.cpu_ms_per_job:.1f}: {', '.join(parts)} "
            f"(they kept {busy:.0%} of all CPUs busy)"
        )


def median_run(runs: list[Throughput]) -> Throughput:
    """The run with the median rate, all runs' create latencies pooled."""
    chosen = sorted(runs, key=lambda r: r.per_s)[len(runs) // 2]
    pooled = [ms for run in runs for ms in run.create_ms]
    return Throughput(
        chosen.count,
        chosen.seconds,
        pooled,
        chosen.cpu_s,
        chosen.load_before,
        chosen.load_after,
        chosen.others_cores,
    )


def rates(runs: list[Throughput]) -> str:
    return ", ".join(f"{r.per_s:.1f}" for r in runs)


def loads(runs: list[Throughput]) -> str:
    """Each round's 1-minute load average before -> after, and the others' CPUs."""
    return ", ".join(
        f"{r.load_before:.2f}->{r.load_after:.2f} (others {r.others_cores:.2f} CPUs)" for r in runs
    )


def side_load(runs: list[Throughput]) -> float:
    """A side's load: the mean of its rounds' load averages before and after."""
    return statistics.fmean((r.load_before + r.load_after) / 2 for r in runs)


def unreliable_reasons(
    start_load: float, deck_runs: list[Throughput], bare_runs: list[Throughput]
) -> list[str]:
    """Why the figures of this run say little about jobdeck (empty: a reliable run). On
    a machine with other work the CPUs are shared unevenly between the two sides, and a
    ratio of rates then measures the other work (issue 17: a 1.12 that was really 0.62)."""
    reasons = []
    if start_load > START_LOAD_LIMIT:
        reasons.append(f"load at start {start_load:.2f} > {START_LOAD_LIMIT:.1f}")
    deck_load, bare_load = side_load(deck_runs), side_load(bare_runs)
    if abs(deck_load - bare_load) > SIDE_LOAD_GAP:
        reasons.append(
            f"the sides' loads differ: jobdeck {deck_load:.2f}, bare {bare_load:.2f} "
            f"(more than {SIDE_LOAD_GAP:.1f} apart)"
        )
    others = max(r.others_cores for r in [*deck_runs, *bare_runs])
    if others > OTHERS_CORES_LIMIT:
        reasons.append(f"other processes kept up to {others:.2f} CPUs busy during a side")
    return reasons


def judged(met: bool, reasons: list[str]) -> str:
    """MET / NOT MET on a reliable run only."""
    if reasons:
        return "UNRELIABLE (not judged)"
    return "MET" if met else "NOT MET"


def machine_busy_seconds() -> float:
    """CPU time all CPUs of the machine spent busy so far, from /proc/stat (0 elsewhere)."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first.split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass
class Idle:
    create_ms: float  # POST /api/jobs, or start_workflow
    done_ms: float  # submit to done


def idle_summary(samples: list[Idle]) -> str:
    done = [s.done_ms for s in samples]
    create = statistics.median(s.create_ms for s in samples)
    return (
        f"{statistics.median(done):7.1f} ms  ({min(done):.1f}..{max(done):.1f}); "
        f"submit call alone {create:.1f} ms"
    )


@dataclass
class OpenLoop:
    """One open-loop run: requests arriving at `rate` per second (Poisson)."""

    rate: float
    submit_ms: list[float] = field(default_factory=list)  # the POST / start_workflow
    done_ms: list[float] = field(default_factory=list)  # submit -> completed
    lag_ms: list[float] = field(default_factory=list)  # how late the bench sent each one


Submit = Callable[[], Awaitable[Awaitable[float]]]


async def open_loop(submit: Submit, rate: float, count: int, seed: int) -> OpenLoop:
    """Send `count` requests at exponentially distributed gaps (mean 1/rate), each on its
    own task whatever the others are doing (an open loop: a slow answer does not delay
    the next arrival, so latency is measured below saturation, not behind a queue).
    `submit` makes the request and returns what waits for the job's completion time."""
    gen = random.Random(seed)
    offsets, at = [], 0.0
    for _ in range(count):
        at += gen.expovariate(rate)
        offsets.append(at)
    run = OpenLoop(rate)

    async def one(offset: float) -> None:
        due = t0 + offset
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent = time.perf_counter()
        run.lag_ms.append(max(0.0, sent - due) * 1000)
        done = await submit()
        run.submit_ms.append((time.perf_counter() - sent) * 1000)
        run.done_ms.append((await done - sent) * 1000)

    t0 = time.perf_counter() + 0.1
    async with asyncio.timeout(RUN_TIMEOUT_S + offsets[-1]):
        await asyncio.gather(*(one(offset) for offset in offsets))
    return run


def open_loop_line(run: OpenLoop) -> str:
    return (
        f"submit {fmt_ms(run.submit_ms)} | to completed {fmt_ms(run.done_ms)} | "
        f"bench lag p99 {percentile(run.lag_ms, 99):.1f} ms"
    )


# --- processes -------------------------------------------------------------------------


class Processes(SharedProcesses):
    """The shared bench process keeper, plus each process's CPU time for the cost figures."""

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) used so far by each live subprocess and by this one."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        times = {"bench": usage.ru_utime + usage.ru_stime}
        for name, proc in self.procs:
            if name.startswith("py-spy"):
                continue
            try:
                times[name] = proc_cpu_seconds(proc.pid)
            except OSError:  # not Linux, or gone
                continue
        return times


async def measured(procs: Processes, run: Awaitable[Throughput]) -> Throughput:
    """Run one side, with its CPU per process, the load average before and after, and
    how many CPUs the machine's other processes kept busy meanwhile."""
    load_before = os.getloadavg()[0]
    busy_before, t_before = machine_busy_seconds(), time.monotonic()
    before = procs.cpu_seconds()
    result = await run
    after = procs.cpu_seconds()
    busy_after, t_after = machine_busy_seconds(), time.monotonic()
    result.cpu_s = {name: after[name] - before.get(name, 0.0) for name in after}
    result.load_before, result.load_after = load_before, os.getloadavg()[0]
    ours = sum(result.cpu_s.values())
    result.others_cores = max(0.0, busy_after - busy_before - ours) / (t_after - t_before)
    return result


async def start_temporal(procs: Processes, work: Path, *, tuned: bool, name: str) -> Client:
    port = free_port()
    cmd = dev_server_command(
        db_file=work / f"{name}.db", ip="127.0.0.1", port=port, ui_port=None, tuned=tuned
    )
    procs.start(name, cmd, cwd=work)
    address = f"127.0.0.1:{port}"
    holder: list[Client] = []

    async def ready() -> bool:
        if not holder:
            holder.append(await Client.connect(address))
        await holder[0].workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="default")
        )
        return True

    await wait_until(f"Temporal dev server ({name})", ready, procs, START_TIMEOUT_S)
    return holder[0]


@contextmanager
def profiled(args: argparse.Namespace, procs: Processes, names: list[str]) -> Iterator[None]:
    """With --py-spy: sample these processes (collapsed stacks, one file each) meanwhile."""
    if not args.py_spy:
        yield
        return
    args.profile_dir.mkdir(parents=True, exist_ok=True)
    spies = []
    for name, proc in list(procs.procs):
        if name in names:
            out = args.profile_dir / f"{name}.txt"
            cmd = [args.py_spy, "record", "--pid", str(proc.pid), "--rate", "250"]
            cmd += ["--format", "raw", "--output", str(out), "--nonblocking"]
            spies.append(procs.start(f"py-spy-{name}", cmd, cwd=Path.cwd()))
            print(f"py-spy: {name} -> {out}")
    time.sleep(1)  # attached before the clock starts
    try:
        yield
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for spy in spies:
            try:
                spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()
        procs.procs = [(n, p) for n, p in procs.procs if p not in spies]


# --- (b) bare Temporal -------------------------------------------------------------------


class Bare:
    def __init__(self, client: Client, task_queue: str) -> None:
        self.client = client
        self.task_queue = task_queue

    async def start(self) -> Any:
        return await self.client.start_workflow(
            NoopWorkflow.run, "x", id=f"bench-{uuid.uuid4().hex}", task_queue=self.task_queue
        )

    async def throughput(self, n: int, concurrency: int) -> Throughput:
        create_ms: list[float] = []
        results: list[asyncio.Future[Any]] = []
        next_index = iter(range(n))

        async def starter() -> None:
            for _ in next_index:
                t0 = time.perf_counter()
                handle = await self.start()
                create_ms.append((time.perf_counter() - t0) * 1000)
                results.append(asyncio.ensure_future(handle.result()))

        t_start = time.perf_counter()
        try:
            async with asyncio.timeout(RUN_TIMEOUT_S):
                await asyncio.gather(*(starter() for _ in range(concurrency)))
                await asyncio.gather(*results)
        finally:
            for pending in results:
                pending.cancel()
        return Throughput(n, time.perf_counter() - t_start, create_ms)

    async def open_submit(self) -> Awaitable[float]:
        """start_workflow; then what waits for its result (the time it came)."""
        handle = await self.start()

        async def done() -> float:
            await handle.result()
            return time.perf_counter()

        return done()

    async def idle(self) -> Idle:
        async with asyncio.timeout(60):
            t0 = time.perf_counter()
            handle = await self.start()
            t1 = time.perf_counter()
            await handle.result()
            t2 = time.perf_counter()
        return Idle((t1 - t0) * 1000, (t2 - t0) * 1000)


async def start_bare(
    procs: Processes, client: Client, *, in_process: bool
) -> tuple[Bare, Worker | None]:
    task_queue = f"bench-{uuid.uuid4().hex[:8]}"
    if in_process:
        worker = bare_worker(client, task_queue)
        await worker.__aenter__()
        return Bare(client, task_queue), worker
    name = f"bare-worker-{task_queue}"
    address = client.service_client.config.target_host
    cmd = [sys.executable, str(script_path()), "--bare-worker", "--address", address]
    procs.start(name, [*cmd, "--task-queue", task_queue], cwd=script_path().parent.parent)

    async def ready() -> bool:
        return "ready" in procs.log_path(name).read_text(errors="replace")

    await wait_until("bare worker", ready, procs, START_TIMEOUT_S)
    return Bare(client, task_queue), None


# --- (a) jobdeck end to end ----------------------------------------------------------


class Jobdeck:
    def __init__(self, base_url: str, warm_key: str, bench_key: str) -> None:
        self.base_url = base_url
        self.warm_key = warm_key
        self.bench_key = bench_key

    def client(self, key: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )

    @staticmethod
    async def create(api: httpx.AsyncClient) -> str:
        response = await api.post("/api/jobs", json=BULK_NOTHING)
        if response.status_code != 201:
            raise RuntimeError(f"POST /api/jobs: {response.status_code} {response.text}")
        job_id: str = response.json()["id"]
        return job_id

    @staticmethod
    async def stats(api: httpx.AsyncClient) -> dict[str, int]:
        response = await api.get("/api/jobs/stats")
        if response.status_code != 200:
            raise RuntimeError(f"GET /api/jobs/stats: {response.status_code} {response.text}")
        stats: dict[str, int] = response.json()
        return stats

    async def throughput(self, n: int, concurrency: int) -> Throughput:
        create_ms: list[float] = []
        next_index = iter(range(n))
        async with self.client(self.bench_key) as api:
            target = (await self.stats(api))["completed"] + n  # earlier rounds counted too

            async def creator() -> None:
                for _ in next_index:
                    t0 = time.perf_counter()
                    await self.create(api)
                    create_ms.append((time.perf_counter() - t0) * 1000)

            t_start = time.perf_counter()
            creators = asyncio.gather(*(creator() for _ in range(concurrency)))
            try:
                async with asyncio.timeout(RUN_TIMEOUT_S):
                    while True:
                        if creators.done():
                            creators.result()  # raise a failed POST at once
                        stats = await self.stats(api)
                        t_seen = time.perf_counter()
                        if stats["failed"] or stats["cancelled"]:
                            raise RuntimeError(f"jobdeck: jobs did not complete: {stats}")
                        if stats["completed"] >= target:
                            break
                        # Coarse while many are left (each poll costs the API CPU too),
                        # fine near the end, where the clock stops.
                        left = target - stats["completed"]
                        await asyncio.sleep(STATS_POLL_S if left <= concurrency else 0.25)
                    await creators
            finally:
                creators.cancel()
        return Throughput(n, t_seen - t_start, create_ms)

    @asynccontextmanager
    async def open_loop_session(self) -> AsyncIterator[Submit]:
        """An API client and a /ws/jobs feed of the bench organization: a submit POSTs a
        job, and its completion time is when the feed delivered its `completed` event."""
        from websockets.asyncio.client import connect

        completed: dict[str, float | Exception] = {}  # receipt time, or why it failed
        waiting: dict[str, asyncio.Future[float]] = {}
        ws_url = self.base_url.replace("http://", "ws://", 1) + "/ws/jobs"
        headers = {"Authorization": f"Bearer {self.bench_key}"}

        async def listen(ws: Any) -> None:
            async for raw in ws:
                message = json.loads(raw)
                if message.get("type") != "event":
                    continue
                event = message["event"]
                outcome: float | Exception
                if event["kind"] == "completed":
                    outcome = time.perf_counter()
                elif event["kind"] in ("failed", "cancelled"):
                    outcome = RuntimeError(f"jobdeck: job {event['jobId']} {event['kind']}")
                else:
                    continue
                completed[event["jobId"]] = outcome
                future = waiting.pop(event["jobId"], None)
                if future is not None and not future.done():
                    settle(future, outcome)

        def settle(future: asyncio.Future[float], outcome: float | Exception) -> None:
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

        async with (
            self.client(self.bench_key) as api,
            connect(ws_url, additional_headers=headers, proxy=None, open_timeout=30) as ws,
        ):
            while json.loads(await ws.recv()).get("type") != "ready":
                pass
            listener = asyncio.create_task(listen(ws))

            async def submit() -> Awaitable[float]:
                job_id = await self.create(api)
                if listener.done():  # the feed closed: nothing would ever complete
                    raise RuntimeError(f"jobdeck feed ended: {listener!r}")
                future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
                if job_id in completed:  # the event overtook the POST's answer
                    settle(future, completed[job_id])
                else:
                    waiting[job_id] = future
                return future

            try:
                yield submit
            finally:
                listener.cancel()
                with suppress(asyncio.CancelledError):
                    await listener

    async def idle(self) -> Idle:
        async with self.client(self.warm_key) as api, asyncio.timeout(60):
            await api.get("/healthz")  # the connection is open before the clock starts
            t0 = time.perf_counter()
            job_id = await self.create(api)
            t1 = time.perf_counter()
            while True:
                response = await api.get(f"/api/jobs/{job_id}")
                status = response.json()["status"]
                if status == "completed":
                    break
                if status in ("failed", "cancelled"):
                    raise RuntimeError(f"job {job_id} ended {status}: {response.text}")
                await asyncio.sleep(IDLE_POLL_S)
            t2 = time.perf_counter()
        return Idle((t1 - t0) * 1000, (t2 - t0) * 1000)


def worker_names(count: int) -> list[str]:
    return (
        ["jobdeck-worker"] if count == 1 else [f"jobdeck-worker-{i}" for i in range(1, count + 1)]
    )


async def start_jobdeck(
    procs: Processes,
    client: Client,
    work: Path,
    *,
    workers: int = 1,
    database_url: str | None = None,
) -> Jobdeck:
    from jobdeck.admin import create_account
    from jobdeck.store.accounts import Role
    from jobdeck.store.engine import Database
    from jobdeck.store.migrate import upgrade

    database_url = database_url or f"sqlite+aiosqlite:///{work / 'jobdeck.db'}"
    await asyncio.to_thread(upgrade, database_url)
    db = Database.connect(database_url)
    try:
        keys = []
        for org in ("warmup", "bench"):  # stats are per organization: the bench's stay exact
            created = await create_account(
                db, organization=org, email=f"{org}@bench.local", name=org, role=Role.ADMIN
            )
            keys.append(created.key)
    finally:
        await db.dispose()

    api_port = free_port()
    env = jobdeck_env(
        JOBDECK_DATA_DIR=str(work / "data"),
        JOBDECK_DATABASE_URL=database_url,
        JOBDECK_TEMPORAL_ADDRESS=client.service_client.config.target_host,
        JOBDECK_TASK_QUEUE=f"jobdeck-{uuid.uuid4().hex[:8]}",
        JOBDECK_API_HOST="127.0.0.1",
        JOBDECK_API_PORT=str(api_port),
        # The bench measures capacity: the default per-key and per-organization creation
        # rate limits (300 and 1200 a minute) would cap it at 5 jobs/s and answer 429.
        JOBDECK_RATE_CREATES_PER_MINUTE_KEY="0",
        JOBDECK_RATE_CREATES_PER_MINUTE_ORG="0",
        # ... and the default 20 active jobs per organization would queue the flood behind
        # its slots: the bench's one organization may run as many as the worker can.
        JOBDECK_LIMIT_ACTIVE_JOBS="1000000",
    )
    for name in worker_names(workers):  # all on one task queue: Temporal shares the jobs out
        procs.start(name, [sys.executable, "-m", "jobdeck", "worker"], env=env, cwd=work)
    procs.start("jobdeck-api", [sys.executable, "-m", "jobdeck", "api"], env=env, cwd=work)
    base_url = f"http://127.0.0.1:{api_port}"

    async def worker_ready() -> bool:
        return all(
            "worker running" in procs.log_path(name).read_text(errors="replace")
            for name in worker_names(workers)
        )

    async def api_ready() -> bool:
        async with httpx.AsyncClient(timeout=2) as http:
            return (await http.get(f"{base_url}/readyz")).status_code == 200

    await wait_until("jobdeck worker", worker_ready, procs, START_TIMEOUT_S)
    await wait_until("jobdeck API", api_ready, procs, START_TIMEOUT_S)
    return Jobdeck(base_url, warm_key=keys[0], bench_key=keys[1])


# --- the runs ----------------------------------------------------------------------------


async def idle_samples(run_one: Callable[[], Awaitable[Idle]], runs: int) -> list[Idle]:
    samples = []
    for _ in range(runs):
        await asyncio.sleep(0.2)  # idle: nothing else in flight
        samples.append(await run_one())
    return samples


async def open_loop_runs(
    args: argparse.Namespace, bare: Bare, deck: Jobdeck, max_rate: float
) -> list[tuple[float, OpenLoop, OpenLoop]]:
    """At each fraction of jobdeck's measured maximum: an open-loop run of jobdeck, then
    one of bare Temporal at the same arrival rate (the same offered load)."""
    runs = []
    async with deck.open_loop_session() as deck_submit:
        for i, fraction in enumerate(OPEN_LOOP_FRACTIONS):
            rate = fraction * max_rate
            print(f"open loop: {fraction:.0%} of {max_rate:.1f}/s = {rate:.1f} arrivals/s")
            deck_run = await open_loop(deck_submit, rate, args.open_loop_jobs, seed=i)
            await asyncio.sleep(1)
            bare_run = await open_loop(bare.open_submit, rate, args.open_loop_jobs, seed=i)
            await asyncio.sleep(1)
            runs.append((fraction, deck_run, bare_run))
    return runs


def print_open_loop(
    runs: list[tuple[float, OpenLoop, OpenLoop]], bare_max: float, reasons: list[str]
) -> None:
    print()
    print(
        "open loop (Poisson arrivals at a fraction of jobdeck's measured maximum; bare "
        "Temporal at the same rate):"
    )
    for fraction, deck_run, bare_run in runs:
        print(
            f"  {fraction:.0%}: {deck_run.rate:.1f}/s "
            f"({deck_run.rate / bare_max:.0%} of bare's maximum), "
            f"{len(deck_run.submit_ms)} requests a side"
        )
        print(f"    jobdeck POST            {open_loop_line(deck_run)}")
        print(f"    bare    start_workflow  {open_loop_line(bare_run)}")
        p99, bare_p99 = percentile(deck_run.submit_ms, 99), percentile(bare_run.submit_ms, 99)
        print(
            f"    POST p99 / start_workflow p99 {p99 / bare_p99:.2f}  goal <= 2: "
            f"{judged(p99 <= 2 * bare_p99, reasons)}"
            + (
                f"; POST p99 {p99:.1f} ms goal < {CREATE_P99_GOAL_MS:.0f} ms: "
                f"{judged(p99 < CREATE_P99_GOAL_MS, reasons)}"
                if fraction == 0.5
                else ""
            )
        )


async def main_default(args: argparse.Namespace, work: Path, procs: Processes) -> int:
    async with AsyncExitStack() as stack:  # a scratch PostgreSQL database, with --postgres
        return await _main_default(args, work, procs, stack)


async def _main_default(
    args: argparse.Namespace, work: Path, procs: Processes, stack: AsyncExitStack
) -> int:
    tuned = not args.untuned
    start_load = os.getloadavg()[0]
    load_before = load_line()
    client = await start_temporal(procs, work, tuned=tuned, name="temporal")
    bare, in_proc_worker = await start_bare(procs, client, in_process=args.bare_in_process)
    try:
        database_url = None
        if args.postgres:
            database_url = await stack.enter_async_context(scratch_postgres(args.postgres))
        deck = await start_jobdeck(
            procs, client, work, workers=args.workers, database_url=database_url
        )
        for _ in range(WARMUP):  # imports, pools and caches hot before the clock starts
            await bare.idle()
            await deck.idle()

        bare_runs: list[Throughput] = []
        deck_runs: list[Throughput] = []
        for _ in range(args.rounds):
            # Bare first, then jobdeck: jobdeck runs against the (slightly) larger server db.
            bare_runs.append(await measured(procs, bare.throughput(args.jobs, args.concurrency)))
            await asyncio.sleep(1)
            with profiled(args, procs, ["jobdeck-api", *worker_names(args.workers)]):
                deck_runs.append(
                    await measured(procs, deck.throughput(args.jobs, args.concurrency))
                )
            await asyncio.sleep(1)
        bare_idle: list[Idle] = []
        deck_idle: list[Idle] = []
        for _ in range(args.idle_runs):  # interleaved, so drift hits both alike
            bare_idle += await idle_samples(bare.idle, 1)
            deck_idle += await idle_samples(deck.idle, 1)
        open_runs = []
        if args.open_loop:
            max_rate = median_run(deck_runs).per_s
            open_runs = await open_loop_runs(args, bare, deck, max_rate)
    finally:
        if in_proc_worker is not None:
            await in_proc_worker.__aexit__(None, None, None)

    deck_tp, bare_tp = median_run(deck_runs), median_run(bare_runs)
    worker_where = "in the bench process" if args.bare_in_process else "in a subprocess"
    ratio = deck_tp.per_s / bare_tp.per_s
    cpu_ratio = bare_tp.cpu_ms_per_job / deck_tp.cpu_ms_per_job
    p99 = percentile(deck_tp.create_ms, 99)
    reasons = unreliable_reasons(start_load, deck_runs, bare_runs)
    rounds = f", median of {args.rounds} rounds" if args.rounds > 1 else ""
    print()
    print(
        f"jobdeck throughput bench: N={args.jobs} concurrency={args.concurrency}{rounds}, "
        f"Temporal dev server {'tuned' if tuned else 'untuned'}, Python "
        f"{platform.python_version()}"
    )
    print(f"before: {load_before}; after: {load_line()}")
    print(f"jobdeck sides, load before->after: {loads(deck_runs)}")
    print(f"bare sides,    load before->after: {loads(bare_runs)}")
    if reasons:
        print(f"UNRELIABLE: {'; '.join(reasons)}. Re-measure on a quiet machine.")
    else:
        print("reliable: quiet machine, both sides under the same load")
    print()
    workers = "worker process" if args.workers == 1 else f"{args.workers} worker processes"
    app_db = "PostgreSQL" if args.postgres else "SQLite"
    print(f"(a) jobdeck end to end (API process + {workers}, {app_db} app db)")
    print(f"    {deck_tp.per_s:8.1f} jobs/s      ({args.jobs} jobs in {deck_tp.seconds:.2f} s)")
    if args.rounds > 1:
        print(f"    all rounds: {rates(deck_runs)} jobs/s")
    print(f"    create POST latency    {fmt_ms(deck_tp.create_ms)}")
    print(f"    {deck_tp.cpu_line()}")
    print(f"(b) bare Temporal (no-op workflow + 1 no-op activity, worker {worker_where})")
    print(
        f"    {bare_tp.per_s:8.1f} workflows/s ({args.jobs} workflows in {bare_tp.seconds:.2f} s)"
    )
    if args.rounds > 1:
        print(f"    all rounds: {rates(bare_runs)} workflows/s")
    print(f"    start_workflow latency {fmt_ms(bare_tp.create_ms)}")
    print(f"    {bare_tp.cpu_line()}")
    print()
    print(
        f"ratio jobdeck/bare       {ratio:6.2f}    goal >= {RATIO_GOAL:.2f}: "
        f"{judged(ratio >= RATIO_GOAL, reasons)}"
    )
    print(
        f"CPU cost ratio bare/jobdeck {cpu_ratio:.2f} (the rate ratio when CPU-bound); "
        f"CPU per job jobdeck/bare {1 / cpu_ratio:.2f} goal <= {CPU_PER_JOB_GOAL:.2f}: "
        f"{judged(1 / cpu_ratio <= CPU_PER_JOB_GOAL, reasons)}"
    )
    print(
        f"create p99 at saturation {p99:6.1f} ms (a queue's wait: see the open loop for "
        "latency below saturation)"
    )
    print()
    print(f"idle submit-to-done latency, median of {args.idle_runs} (min..max):")
    print(f"    jobdeck {idle_summary(deck_idle)} (POST; done = row completed, 10 ms poll)")
    print(f"    bare    {idle_summary(bare_idle)} (start_workflow; done = result)")
    idle_ratio = statistics.median(s.done_ms for s in deck_idle) / statistics.median(
        s.done_ms for s in bare_idle
    )
    print(f"    ratio jobdeck/bare {idle_ratio:.2f}")
    if open_runs:
        print_open_loop(open_runs, bare_tp.per_s, reasons)
    if reasons:
        print(f"\nUNRELIABLE run ({'; '.join(reasons)}): no goal is judged.")
    return 0


async def bare_on_server(
    args: argparse.Namespace, work: Path, procs: Processes, *, tuned: bool
) -> tuple[list[Throughput], list[Idle]]:
    name = "temporal-tuned" if tuned else "temporal-untuned"
    client = await start_temporal(procs, work, tuned=tuned, name=name)
    bare, in_proc_worker = await start_bare(procs, client, in_process=args.bare_in_process)
    try:
        for _ in range(WARMUP):
            await bare.idle()
        runs = []
        for _ in range(args.rounds):
            runs.append(await measured(procs, bare.throughput(args.jobs, args.concurrency)))
            await asyncio.sleep(1)
        idle = await idle_samples(bare.idle, args.idle_runs)
    finally:
        if in_proc_worker is not None:
            await in_proc_worker.__aexit__(None, None, None)
    procs.stop()  # this server and its worker, before the next server starts
    return runs, idle


async def main_compare_tuning(args: argparse.Namespace, work: Path, procs: Processes) -> int:
    load_before = load_line()
    untuned_runs, untuned_idle = await bare_on_server(args, work, procs, tuned=False)
    tuned_runs, tuned_idle = await bare_on_server(args, work, procs, tuned=True)
    untuned_tp, tuned_tp = median_run(untuned_runs), median_run(tuned_runs)
    worker_where = "in the bench process" if args.bare_in_process else "in a subprocess"
    rounds = f", median of {args.rounds} rounds" if args.rounds > 1 else ""
    print()
    print(
        f"Temporal dev server tuning, bare Temporal (no-op workflow + 1 no-op activity, "
        f"worker {worker_where}): N={args.jobs} concurrency={args.concurrency}{rounds}"
    )
    print(f"before: {load_before}; after: {load_line()}")
    print()
    for label, tp, runs, idle in (
        ("untuned", untuned_tp, untuned_runs, untuned_idle),
        ("tuned", tuned_tp, tuned_runs, tuned_idle),
    ):
        print(f"  {label}: {tp.per_s:8.1f} workflows/s ({tp.seconds:.2f} s)")
        if args.rounds > 1:
            print(f"      all rounds: {rates(runs)} workflows/s")
        print(f"      start_workflow latency {fmt_ms(tp.create_ms)}")
        print(f"      {tp.cpu_line()}")
        print(f"      idle submit-to-done {idle_summary(idle)}")
    print()
    print(f"throughput tuned/untuned    {tuned_tp.per_s / untuned_tp.per_s:.2f}x")
    idle_ratio = statistics.median(s.done_ms for s in tuned_idle) / statistics.median(
        s.done_ms for s in untuned_idle
    )
    print(f"idle latency tuned/untuned  {idle_ratio:.2f}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs / workflows per side")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--idle-runs", type=int, default=10, help="one-at-a-time samples")
    parser.add_argument(
        "--rounds", type=int, default=3, help="throughput runs per side (medians reported)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="jobdeck worker processes (default 1)"
    )
    parser.add_argument(
        "--open-loop",
        action="store_true",
        help="then Poisson arrivals at 25%%, 50%% and 75%% of the measured maximum",
    )
    parser.add_argument(
        "--open-loop-jobs", type=int, default=150, help="requests per side at each rate"
    )
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=POSTGRES_URL,
        metavar="URL",
        help="jobdeck's app database on a scratch database of this PostgreSQL server "
        f"(default {POSTGRES_URL}) instead of SQLite",
    )
    parser.add_argument("--untuned", action="store_true", help="dev server without TUNING_ARGS")
    parser.add_argument(
        "--compare-tuning",
        action="store_true",
        help="only the bare baseline, on an untuned then a tuned dev server",
    )
    parser.add_argument(
        "--bare-in-process",
        action="store_true",
        help="run the bare baseline's worker in this process instead of a subprocess",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temp folder (server and process logs)"
    )
    parser.add_argument(
        "--py-spy",
        metavar="PATH",
        help="py-spy binary: sample the jobdeck API and worker during the throughput run",
    )
    parser.add_argument(
        "--profile-dir",
        type=Path,
        default=Path("bench/results"),
        help="where --py-spy writes collapsed stacks (default bench/results)",
    )
    # Internal: the bare worker subprocess.
    parser.add_argument("--bare-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    parser.add_argument("--task-queue", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    counts = (args.jobs, args.concurrency, args.idle_runs, args.rounds, args.open_loop_jobs)
    if min(*counts, args.workers) < 1:
        parser.error(
            "--jobs, --concurrency, --idle-runs, --rounds, --open-loop-jobs and --workers "
            "must be at least 1"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.bare_worker:
        asyncio.run(bare_worker_main(args.address, args.task_queue))
        return 0
    run = main_compare_tuning if args.compare_tuning else main_default
    return run_bench(
        "jobdeck-bench-", args.keep, lambda work, procs: run(args, work, procs), Processes
    )


if __name__ == "__main__":
    raise SystemExit(main())
