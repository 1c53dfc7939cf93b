"""Fan-out: many WebSocket clients on ONE API process while jobs report progress.

    .venv/bin/python bench/fanout.py [--clients 1000] [--rate 100] [--seconds 20]
        [--jobs 10] [--backend sqlite|postgres] [--no-compression] [--resume] [--keep]

What runs (all on loopback, started here and stopped in `finally`): a Temporal dev server
(`jobdeck.devserver.dev_server_command`, SQLite file in a temp folder), one
`python -m jobdeck worker` and ONE `python -m jobdeck api`, on a fresh SQLite file (default)
or a scratch PostgreSQL database `jobdeck_bench_<random>` (dropped afterwards).

What it measures: --clients `websockets` clients, all in this process on one asyncio loop,
all of the same organization, connect to `/ws/jobs` (--connect-concurrency at a time) and
wait for `ready`. Then --jobs jobs of the bench-only type `bench-progress` (bench/_stack.py,
`ProgressReporter(interval_s=0)`) report --rate progress events per second in total for
--seconds, staggered so that the reports spread evenly. Every client must receive every
event of its organization (created, started, progress..., completed of each job), so

  expected  = clients x events stored for the organization during the run (counted in the
              database afterwards)
  delivered = per client, events received in increasing id order, each once

The run ends when every client has received the newest event, or --drain-s after the last
job finished. Prints delivered/expected (goal: nothing lost), duplicates, clients the server
closed as too slow (4408), latency from the progress call in job code to receipt at a
client (p50/p95/p99/max over every delivery; receipt time is taken when this process's
loop gets to the message, so a saturated client side shows up here too), the API process's
CPU (utime+stime deltas from /proc/<pid>/stat, whole run and busiest second) and RSS (idle,
with the clients connected, peak), and the CPU of the worker, the dev server and this
process. On a 2-CPU machine the API, the worker, the dev server and the clients share the
CPUs: read the CPU line before blaming any one of them.

The CPU figures: the API's share of one CPU (average and busiest second), its share when
idle with every client connected, and, beyond that idle share, its CPU per event delivered
and per WebSocket message sent; also this process's CPU per message received (the clients'
own cost: on a small machine they compete with the API). A frame may carry several
messages separated by newlines (JSON text never holds a raw newline): the clients count
each, should the server batch.

Clients offer permessage-deflate, as browsers and the `websockets` library do by default;
--no-compression connects without it. Without --resume a client the server closes stays
closed and its missing events count as lost; with --resume it reconnects with
`?after=<last id>` at once (the feed's promise: nothing missed, at the cost of latency).
--py-spy PATH samples the API and the worker while the jobs run into --profile-dir
(collapsed stacks); --keep keeps the temp folder with every process's log. A default run
(1,000 clients, 100 events/s for 20 s) takes about 1-2 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import statistics
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _stack import (
    POSTGRES_URL,
    Deck,
    Processes,
    load_line,
    open_feed,
    percentile,
    proc_cpu_seconds,
    proc_cpu_wait_seconds,
    proc_memory_mib,
    profiled,
    run_bench,
    scratch_postgres,
    start_deck,
    start_temporal,
)

# FeedEvent.message is compact JSON that starts with these bytes, then the event id.
EVENT_PREFIX = b'{"type":"event","event":{"id":'
MESSAGE_KEY = b'"message":"'
PROGRESS_KIND = b'"kind":"progress"'
CLOSE_TOO_SLOW = 4408
HTTP_TIMEOUT_S = 120.0
LOST_GOAL = 0


@dataclass(eq=False)
class Client:
    index: int
    last: int = -1  # newest event id received (the `ready` id at first)
    received: int = 0
    duplicates: int = 0  # an id not above the last one
    reconnects: int = 0
    close_codes: list[int] = field(default_factory=list)
    closed: bool = False  # closed by the server and not resumed
    ready: asyncio.Event = field(default_factory=asyncio.Event)


class Fleet:
    """The clients, the latencies they saw, and when they are all caught up."""

    def __init__(self, deck: Deck, args: argparse.Namespace) -> None:
        self.deck = deck
        self.args = args
        self.clients = [Client(i) for i in range(args.clients)]
        self.latencies = array("d")  # seconds, progress call -> receipt, every delivery
        self.target: int | None = None  # the newest event id, once every job ended
        self.caught_up = 0
        self.all_caught_up = asyncio.Event()
        self.connect_gate = asyncio.Semaphore(args.connect_concurrency)
        self.tasks: list[asyncio.Task[None]] = []
        self.connect_errors = 0
        self.frames = 0  # WebSocket messages received, all clients

    def _finished(self, client: Client) -> None:
        self.caught_up += 1
        if self.caught_up >= len(self.clients):
            self.all_caught_up.set()

    def set_target(self, newest: int) -> None:
        self.target = newest
        for client in self.clients:
            if client.closed or client.last >= newest:
                self._finished(client)

    async def run_client(self, client: Client) -> None:
        compression = None if self.args.no_compression else "deflate"
        first = True
        while True:
            path = "/ws/jobs" if first else f"/ws/jobs?after={client.last}"
            try:
                async with self.connect_gate if first else contextlib.nullcontext():
                    ws = await open_feed(
                        self.deck, path, compression=compression, ping_interval=None
                    )
            except Exception:
                self.connect_errors += 1
                if first:
                    raise
                await asyncio.sleep(0.5)
                continue
            first = False
            try:
                await self._read(client, ws)
                return
            except Exception as err:  # ConnectionClosed: by the server (too slow) or lost
                rcvd = getattr(err, "rcvd", None)
                client.close_codes.append(rcvd.code if rcvd is not None else -1)
                if not self.args.resume:
                    client.closed = True
                    if self.target is not None:
                        self._finished(client)
                    return
                client.reconnects += 1
            finally:
                await ws.close()

    async def _read(self, client: Client, ws: Any) -> None:
        recv = ws.recv
        now = time.time
        while True:
            raw: bytes = await recv(decode=False)
            received = now()
            self.frames += 1
            if b"\n" in raw:  # several messages in one frame (JSON never holds a raw newline)
                for part in raw.split(b"\n"):
                    if self._one(client, part, received):
                        return
            elif self._one(client, raw, received):
                return

    def _one(self, client: Client, raw: bytes, received: float) -> bool:
        """Account for one message; True once the client has every event."""
        if raw.startswith(EVENT_PREFIX):
            start = len(EVENT_PREFIX)
            end = raw.index(b",", start)
            event_id = int(raw[start:end])
            if event_id <= client.last:
                client.duplicates += 1
                return False
            client.last = event_id
            client.received += 1
            if PROGRESS_KIND in raw[end : end + 80]:
                at = raw.find(MESSAGE_KEY, end)
                if at >= 0:
                    space = raw.index(b" ", at + len(MESSAGE_KEY))
                    quote = raw.index(b'"', space)
                    self.latencies.append(received - float(raw[space + 1 : quote]))
            if self.target is not None and event_id >= self.target:
                self._finished(client)
                return True
            return False
        message = json.loads(raw)
        if message.get("type") == "ready":
            if client.last < 0:
                client.last = int(message["lastEventId"])
            client.ready.set()
        return False

    async def connect_all(self) -> float:
        t0 = time.perf_counter()
        self.tasks = [asyncio.create_task(self.run_client(c)) for c in self.clients]
        waits = [asyncio.create_task(c.ready.wait()) for c in self.clients]
        try:
            async with asyncio.timeout(self.args.connect_timeout_s):
                pending = set(waits)
                while pending:
                    _, pending = await asyncio.wait(pending, timeout=0.5)
                    failed = [t for t in self.tasks if t.done() and t.exception() is not None]
                    if failed:
                        raise RuntimeError(f"a client failed to connect: {failed[0].exception()!r}")
        finally:
            for wait in waits:
                wait.cancel()
        return time.perf_counter() - t0

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(30):
                await asyncio.gather(*self.tasks, return_exceptions=True)


@dataclass
class CpuSample:
    at: float
    cpu_s: dict[str, float]


class Monitor:
    """CPU of each process (and RSS of the API) every second, in the background."""

    def __init__(self, pids: dict[str, int], api_pid: int) -> None:
        self.pids = pids
        self.api_pid = api_pid
        self.samples: list[CpuSample] = []
        self.rss_max = 0.0
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> CpuSample:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = {name: proc_cpu_seconds(pid) for name, pid in self.pids.items()}
        cpu["bench (clients)"] = usage.ru_utime + usage.ru_stime
        cpu["api waiting"] = proc_cpu_wait_seconds(self.api_pid)
        self.rss_max = max(self.rss_max, proc_memory_mib(self.api_pid)[0])
        return CpuSample(time.monotonic(), cpu)

    async def _run(self) -> None:
        while True:
            self.samples.append(self.sample())
            await asyncio.sleep(1.0)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.samples.append(self.sample())

    @property
    def seconds(self) -> float:
        return self.samples[-1].at - self.samples[0].at

    def cpu_seconds(self, name: str) -> float:
        return self.samples[-1].cpu_s[name] - self.samples[0].cpu_s[name]

    def share(self, name: str) -> tuple[float, float]:
        """(average, busiest 1-s window) share of one CPU used by `name`."""
        first, last = self.samples[0], self.samples[-1]
        average = (last.cpu_s[name] - first.cpu_s[name]) / max(1e-9, last.at - first.at)
        peak = max(
            ((b.cpu_s[name] - a.cpu_s[name]) / max(1e-9, b.at - a.at))
            for a, b in zip(self.samples, self.samples[1:], strict=False)
        )
        return average, peak


async def org_events(deck: Deck, after: int) -> tuple[int, int]:
    """(count, newest id) of the organization's events past `after`, from the database."""
    from sqlalchemy import text

    from jobdeck.store.engine import Database

    db = Database.connect(deck.database_url)
    try:
        async with db.read() as session:
            row = (
                await session.execute(
                    text(
                        "SELECT count(*), coalesce(max(id), 0) FROM job_events "
                        "WHERE organization_id = :org AND id > :after"
                    ),
                    {"org": deck.organization_id, "after": after},
                )
            ).one()
    finally:
        await db.dispose()
    return int(row[0]), int(row[1])


@dataclass
class JobsRun:
    ids: list[str]
    seconds: float  # first created -> last seen completed
    create_ms: list[float]  # POST /api/jobs, made while the API fans out earlier jobs' events


async def run_jobs(deck: Deck, args: argparse.Namespace) -> JobsRun:
    """Start the jobs, staggered, and wait for them all to complete."""
    per_job_rate = args.rate / args.jobs
    reports = max(1, round(per_job_rate * args.seconds))
    interval_ms = 1000 / per_job_rate
    ids: list[str] = []
    create_ms: list[float] = []
    # A long timeout: the API's loop is shared with the fan-out, and how slow its REST
    # answers get meanwhile is one of the figures.
    async with deck.http(timeout=HTTP_TIMEOUT_S) as http:
        t0 = time.perf_counter()
        for index in range(args.jobs):
            data = {"reports": reports, "interval_ms": interval_ms}
            t_post = time.perf_counter()
            ids.append(await deck.create_job(http, data, name=f"fanout-{index}"))
            create_ms.append((time.perf_counter() - t_post) * 1000)
            await asyncio.sleep(interval_ms / 1000 / args.jobs)
        pending = set(ids)
        async with asyncio.timeout(args.seconds + 120):
            while pending:
                await asyncio.sleep(0.5)
                for job_id in list(pending):
                    job = (await http.get(f"/api/jobs/{job_id}")).json()
                    if job["status"] in ("failed", "cancelled"):
                        raise RuntimeError(f"job {job_id} ended {job['status']}: {job}")
                    if job["status"] == "completed":
                        pending.discard(job_id)
        return JobsRun(ids, time.perf_counter() - t0, create_ms)


def raise_open_files(need: int) -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return f"open files limit {soft} (for this process and, inherited, the API)"


async def main_async(args: argparse.Namespace, work: Path, procs: Processes) -> int:
    rlimit = raise_open_files(args.clients * 2 + 1024)
    load_before = load_line()
    temporal = await start_temporal(procs, work)
    if args.backend == "postgres":
        async with scratch_postgres(args.postgres_url) as url:
            try:
                return await measure(args, work, procs, temporal, url, load_before, rlimit)
            finally:
                procs.stop("fanout-api", "fanout-worker")  # before the database is dropped
    url = f"sqlite+aiosqlite:///{work / 'jobdeck.db'}"
    return await measure(args, work, procs, temporal, url, load_before, rlimit)


async def measure(
    args: argparse.Namespace,
    work: Path,
    procs: Processes,
    temporal: str,
    url: str,
    load_before: str,
    rlimit: str,
) -> int:
    deck = await start_deck(procs, work, name="fanout", database_url=url, temporal_address=temporal)
    temporal_pid = next(p.pid for n, p in procs.procs if n == "temporal")
    pids = {"api": deck.api_pid, "worker": deck.worker_pid, "temporal": temporal_pid}
    rss_idle = proc_memory_mib(deck.api_pid)[0]
    _, baseline = await org_events(deck, 0)

    fleet = Fleet(deck, args)
    try:
        connect_s = await fleet.connect_all()
        rss_connected = proc_memory_mib(deck.api_pid)[0]
        await asyncio.sleep(2)  # the connection storm settles before the clock starts
        idle = Monitor(pids, deck.api_pid)
        idle.samples.append(idle.sample())
        await asyncio.sleep(2)
        await idle.stop()

        spied = {"fanout-api": deck.api_pid, "fanout-worker": deck.worker_pid}
        with profiled(procs, args.py_spy, spied, args.profile_dir):
            monitor = Monitor(pids, deck.api_pid)
            monitor.start()
            t0 = time.perf_counter()
            frames_before = fleet.frames
            jobs = await run_jobs(deck, args)
            events, newest = await org_events(deck, baseline)
            fleet.set_target(newest)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(args.drain_s):
                    await fleet.all_caught_up.wait()
            run_s = time.perf_counter() - t0
            await monitor.stop()
        rss_peak = max(monitor.rss_max, proc_memory_mib(deck.api_pid)[1])
    finally:
        await fleet.close()

    clients = fleet.clients
    expected = len(clients) * events
    delivered = sum(c.received for c in clients)
    lost = expected - delivered
    duplicates = sum(c.duplicates for c in clients)
    too_slow = sum(c.close_codes.count(CLOSE_TOO_SLOW) for c in clients)
    other_closes = sum(len(c.close_codes) for c in clients) - too_slow
    complete = sum(1 for c in clients if c.received == events)
    lat_ms = [x * 1000 for x in fleet.latencies]
    progress_events = events - 3 * len(jobs.ids)
    api_avg, api_peak = monitor.share("api")
    api_idle, _ = idle.share("api")

    print()
    print(
        f"fan-out bench: {len(clients)} clients on ONE API process, {len(jobs.ids)} jobs, "
        f"{args.rate:g} progress events/s in total for {args.seconds:g} s "
        f"({args.backend}, {'no compression' if args.no_compression else 'permessage-deflate'}"
        f", {'resume on close' if args.resume else 'no resume'})"
    )
    print(f"before: {load_before}; after: {load_line()}; {rlimit}")
    print(
        f"    {len(clients)} clients connected and ready in {connect_s:.1f} s "
        f"({len(clients) / connect_s:.0f}/s)"
    )
    print(
        f"    jobs ran {jobs.seconds:.1f} s; all clients caught up "
        f"{'in' if fleet.all_caught_up.is_set() else 'NOT within'} {run_s:.1f} s from the first job"
    )
    post_ms = statistics.median(jobs.create_ms), max(jobs.create_ms)
    print(
        f"    POST /api/jobs while the API fanned out: median {post_ms[0]:.0f} ms, "
        f"max {post_ms[1]:.0f} ms"
    )
    print()
    print(
        f"delivered/expected  {delivered}/{expected} = {delivered / max(1, expected):.4f} "
        f"({events} events x {len(clients)} clients; {progress_events} of them progress)"
    )
    print(
        f"    lost {lost}, duplicates {duplicates}, clients with every event {complete}/"
        f"{len(clients)}, closed as too slow (4408) {too_slow}, other closes {other_closes}, "
        f"reconnects {sum(c.reconnects for c in clients)}"
    )
    print(
        f"latency call->receipt over {len(lat_ms)} deliveries: p50 {percentile(lat_ms, 50):.1f}"
        f"  p95 {percentile(lat_ms, 95):.1f}  p99 {percentile(lat_ms, 99):.1f}"
        f"  max {max(lat_ms, default=float('nan')):.1f} ms"
    )
    frames = fleet.frames - frames_before
    api_cpu_s = monitor.cpu_seconds("api")
    marginal = max(0.0, api_cpu_s - api_idle * monitor.seconds)
    print(
        f"API CPU             {api_avg:.0%} of one CPU on average, {api_peak:.0%} in the busiest "
        f"second ({api_cpu_s:.1f} s in {monitor.seconds:.1f} s); {api_idle:.1%} when idle with "
        f"{len(clients)} clients connected"
    )
    print(
        f"    beyond idle: {marginal * 1e6 / max(1, delivered):.1f} us per event delivered, "
        f"{marginal * 1e6 / max(1, frames):.1f} us per WebSocket message "
        f"({frames} messages carried {delivered} events)"
    )
    api_waiting = monitor.share("api waiting")[0]
    print(
        f"    the API's loop was ready to run but waited for a CPU {api_waiting:.0%} of the time "
        "(run-queue delay from /proc/<pid>/schedstat: the machine's load)"
    )
    bench_cpu_s = monitor.cpu_seconds("bench (clients)")
    print(
        f"    the clients (this process) used {bench_cpu_s * 1e6 / max(1, frames):.1f} us per "
        "message received"
    )
    print(
        f"API RSS             {rss_idle:.0f} MiB before clients, {rss_connected:.0f} MiB with "
        f"{len(clients)} connected ({(rss_connected - rss_idle) * 1024 / len(clients):.0f} KiB "
        f"per client), peak {rss_peak:.0f} MiB"
    )
    others = ", ".join(
        f"{name} {monitor.share(name)[0]:.0%} (peak {monitor.share(name)[1]:.0%})"
        for name in ("worker", "temporal", "bench (clients)")
    )
    print(f"other CPU           {others} of one CPU; {load_line()}")
    met = lost <= LOST_GOAL and duplicates == 0
    print(f"goal nothing lost at {len(clients)} clients: {'MET' if met else 'NOT MET'}")
    return 0 if met else 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Exit status: 0 when nothing was lost, 2 when something was, 1 on failure.",
    )
    parser.add_argument("--clients", type=int, default=1000, help="WebSocket clients (1000)")
    parser.add_argument(
        "--rate", type=float, default=100.0, help="progress events per second, all jobs (100)"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="how long jobs report (20)")
    parser.add_argument("--jobs", type=int, default=10, help="jobs sharing the rate (10)")
    parser.add_argument(
        "--backend", choices=["sqlite", "postgres"], default="sqlite", help="app database"
    )
    parser.add_argument(
        "--postgres-url",
        default=POSTGRES_URL,
        help=f"server (and admin database) for the scratch database (default {POSTGRES_URL})",
    )
    parser.add_argument(
        "--no-compression", action="store_true", help="clients do not offer permessage-deflate"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="a client the server closes reconnects with ?after=<last id>",
    )
    parser.add_argument(
        "--connect-concurrency", type=int, default=50, help="connections opened at once (50)"
    )
    parser.add_argument(
        "--connect-timeout-s", type=float, default=120.0, help="limit for connecting all (120)"
    )
    parser.add_argument(
        "--drain-s",
        type=float,
        default=60.0,
        help="how long clients may take to catch up after the last job ended (60)",
    )
    parser.add_argument(
        "--py-spy",
        metavar="PATH",
        help="py-spy binary: sample the API and the worker while the jobs run (install it in a "
        "scratch venv: python -m venv /tmp/spy && /tmp/spy/bin/pip install py-spy)",
    )
    parser.add_argument(
        "--profile-dir",
        type=Path,
        default=Path("bench/results"),
        help="where --py-spy writes collapsed stacks (default bench/results)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp folder and its logs")
    args = parser.parse_args(argv)
    if min(args.clients, args.jobs, args.connect_concurrency) < 1 or args.rate <= 0:
        parser.error("--clients, --jobs, --connect-concurrency and --rate must be positive")
    if args.seconds <= 0 or args.drain_s < 0:
        parser.error("--seconds must be positive and --drain-s not negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_bench(
        "jobdeck-bench-fanout-", args.keep, lambda work, procs: main_async(args, work, procs)
    )


if __name__ == "__main__":
    raise SystemExit(main())
