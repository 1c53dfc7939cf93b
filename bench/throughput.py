"""Throughput and latency of jobdeck against bare Temporal, on one dev server per run.

    .venv/bin/python bench/throughput.py [--jobs N] [--untuned] [--compare-tuning]

Default run, against ONE Temporal dev server launched here (tuned unless --untuned):

  (a) jobdeck end to end: a real API process (`python -m jobdeck api`) and a real worker
      process (`python -m jobdeck worker`) on a fresh SQLite app database. N trivial
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
import math
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow

# The workflow sandbox re-imports this module to run NoopWorkflow: let it reuse these.
with workflow.unsafe.imports_passed_through():
    import httpx
    from _stack import Processes as SharedProcesses
    from _stack import free_port, load_line, proc_cpu_seconds, run_bench, wait_until
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
    return Throughput(chosen.count, chosen.seconds, pooled, chosen.cpu_s)


def rates(runs: list[Throughput]) -> str:
    return ", ".join(f"{r.per_s:.1f}" for r in runs)


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
    before = procs.cpu_seconds()
    result = await run
    after = procs.cpu_seconds()
    result.cpu_s = {name: after[name] - before.get(name, 0.0) for name in after}
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


async def start_jobdeck(procs: Processes, client: Client, work: Path) -> Jobdeck:
    from jobdeck.admin import create_account
    from jobdeck.store.accounts import Role
    from jobdeck.store.engine import Database
    from jobdeck.store.migrate import upgrade

    database_url = f"sqlite+aiosqlite:///{work / 'jobdeck.db'}"
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
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBDECK_")}
    env.update(
        JOBDECK_DATA_DIR=str(work / "data"),
        JOBDECK_DATABASE_URL=database_url,
        JOBDECK_TEMPORAL_ADDRESS=client.service_client.config.target_host,
        JOBDECK_TASK_QUEUE=f"jobdeck-{uuid.uuid4().hex[:8]}",
        JOBDECK_API_HOST="127.0.0.1",
        JOBDECK_API_PORT=str(api_port),
    )
    procs.start("jobdeck-worker", [sys.executable, "-m", "jobdeck", "worker"], env=env, cwd=work)
    procs.start("jobdeck-api", [sys.executable, "-m", "jobdeck", "api"], env=env, cwd=work)
    base_url = f"http://127.0.0.1:{api_port}"

    async def worker_ready() -> bool:
        return "worker running" in procs.log_path("jobdeck-worker").read_text(errors="replace")

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


async def main_default(args: argparse.Namespace, work: Path, procs: Processes) -> int:
    tuned = not args.untuned
    load_before = load_line()
    client = await start_temporal(procs, work, tuned=tuned, name="temporal")
    bare, in_proc_worker = await start_bare(procs, client, in_process=args.bare_in_process)
    try:
        deck = await start_jobdeck(procs, client, work)
        for _ in range(WARMUP):  # imports, pools and caches hot before the clock starts
            await bare.idle()
            await deck.idle()

        bare_runs: list[Throughput] = []
        deck_runs: list[Throughput] = []
        for _ in range(args.rounds):
            # Bare first, then jobdeck: jobdeck runs against the (slightly) larger server db.
            bare_runs.append(await measured(procs, bare.throughput(args.jobs, args.concurrency)))
            await asyncio.sleep(1)
            with profiled(args, procs, ["jobdeck-api", "jobdeck-worker"]):
                deck_runs.append(
                    await measured(procs, deck.throughput(args.jobs, args.concurrency))
                )
            await asyncio.sleep(1)
        bare_idle: list[Idle] = []
        deck_idle: list[Idle] = []
        for _ in range(args.idle_runs):  # interleaved, so drift hits both alike
            bare_idle += await idle_samples(bare.idle, 1)
            deck_idle += await idle_samples(deck.idle, 1)
    finally:
        if in_proc_worker is not None:
            await in_proc_worker.__aexit__(None, None, None)

    deck_tp, bare_tp = median_run(deck_runs), median_run(bare_runs)
    worker_where = "in the bench process" if args.bare_in_process else "in a subprocess"
    ratio = deck_tp.per_s / bare_tp.per_s
    cpu_ratio = bare_tp.cpu_ms_per_job / deck_tp.cpu_ms_per_job
    p99 = percentile(deck_tp.create_ms, 99)
    rounds = f", median of {args.rounds} rounds" if args.rounds > 1 else ""
    print()
    print(
        f"jobdeck throughput bench: N={args.jobs} concurrency={args.concurrency}{rounds}, "
        f"Temporal dev server {'tuned' if tuned else 'untuned'}, Python "
        f"{platform.python_version()}"
    )
    print(f"before: {load_before}; after: {load_line()}")
    print()
    print("(a) jobdeck end to end (API process + worker process, SQLite app db)")
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
        f"{'MET' if ratio >= RATIO_GOAL else 'NOT MET'}"
    )
    print(f"CPU cost ratio bare/jobdeck {cpu_ratio:.2f} (the rate ratio when CPU-bound)")
    print(
        f"create p99               {p99:6.1f} ms goal < {CREATE_P99_GOAL_MS:.0f} ms: "
        f"{'MET' if p99 < CREATE_P99_GOAL_MS else 'NOT MET'}"
    )
    print()
    print(f"idle submit-to-done latency, median of {args.idle_runs} (min..max):")
    print(f"    jobdeck {idle_summary(deck_idle)} (POST; done = row completed, 10 ms poll)")
    print(f"    bare    {idle_summary(bare_idle)} (start_workflow; done = result)")
    idle_ratio = statistics.median(s.done_ms for s in deck_idle) / statistics.median(
        s.done_ms for s in bare_idle
    )
    print(f"    ratio jobdeck/bare {idle_ratio:.2f}")
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
    parser.add_argument("--rounds", type=int, default=1, help="throughput runs per side")
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
    if min(args.jobs, args.concurrency, args.idle_runs, args.rounds) < 1:
        parser.error("--jobs, --concurrency, --idle-runs and --rounds must be at least 1")
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
