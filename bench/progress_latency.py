"""Progress latency: from the progress call in job code to its receipt by a WebSocket client.

    .venv/bin/python bench/progress_latency.py [--backend sqlite|postgres|both]
        [--reports N] [--interval-ms MS] [--rounds R] [--warmup N] [--jobs K] [--keep]

What runs (all on loopback, started here and stopped in `finally`): one Temporal dev
server (from `jobdeck.devserver.dev_server_command`, tuned, SQLite file in a temp folder),
and for each backend a real `python -m jobdeck worker` and `python -m jobdeck api` (both
backends' processes run side by side, idle in turn) on a fresh app database: a SQLite file
in the temp folder, or a scratch PostgreSQL database `jobdeck_bench_<random>` created on
--postgres-url's server and dropped afterwards.

What it measures: a job of the bench-only type `bench-progress` (bench/_stack.py, loaded
through JOBDECK_JOB_TYPE_MODULES='["bench._stack"]') calls `ProgressReporter.update` N
times, every --interval-ms, with `interval_s=0` so every call writes its job row and event
(the production throttle, JOBDECK_PROGRESS_INTERVAL_S, is bypassed on purpose: it is a
rate cap, not part of the path measured). The message of each report carries
`time.time()` taken just before the call. One client on `/ws/jobs` (the `websockets`
library, default options, i.e. what a browser negotiates) takes `time.time()` as each
event arrives. Same machine, same clock, so:

  call -> receipt     receipt - call time: the honest figure, and the one held to the goals
  call -> commit      how long `update()` took (it returns after the transaction committed:
                      heartbeat, find the job, update the row, append the event, commit)
  commit -> receipt   receipt - (call + update duration): the tailer's wake-up (LISTEN/NOTIFY
                      on PostgreSQL, a stat of the files every 5 ms on SQLite), its read, the
                      hub fan-out and the WebSocket send

A warm-up job (--warmup reports) runs first on each backend and is not counted. Then
--rounds measured jobs per backend, alternating between the backends so that load from
elsewhere on the machine hits both alike. Prints, over all rounds pooled, p50/p95/p99/max
of each figure, the p95 of each round (how steady the machine was), the CPU ms each process
spent per report, whether every report arrived exactly once, and the goals (judged on the
pooled samples): call->receipt p95 < 25 ms on PostgreSQL and < 50 ms on SQLite. For scale it
notes BullMQ's figure on this machine (1.4 ms p95 to a server-side listener, without
durability). A default run (3 rounds of 300 reports at 20 ms on each backend) takes about a
minute.

Options for digging: --jobs K runs K such jobs at once (each at the pace: contention in the
worker and the database), --tail-interval-ms sets JOBDECK_SQLITE_TAIL_INTERVAL_S for the API
(the SQLite tailer's stat interval), --dump PATH writes every sample to PATH-<backend>.csv,
--py-spy PATH samples the API and the worker during the measured jobs into --profile-dir
(collapsed stacks). --keep keeps the temp folder with every process's log.

The machine is shared: the first lines print the load average before and after, and the
CPU ms each process spent per report, which load disturbs far less than the latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _stack import (
    BULLMQ_NOTE,
    POSTGRES_URL,
    Deck,
    Processes,
    load_line,
    open_feed,
    percentile,
    proc_cpu_seconds,
    proc_cpu_wait_seconds,
    profiled,
    run_bench,
    scratch_postgres,
    start_deck,
    start_temporal,
)

GOALS_MS = {"sqlite": 50.0, "postgres": 25.0}
RUN_TIMEOUT_PAD_S = 60.0
IDLE_S = 2.0  # before the measured job: the idle API's CPU use (the tailer's polling)


@dataclass
class Sample:
    seq: int
    called: float  # time.time() in the activity just before update()
    received: float  # time.time() in the client as the message arrived
    update_ms: float = float("nan")  # update()'s duration, from the job's result

    @property
    def total_ms(self) -> float:
        return (self.received - self.called) * 1000

    @property
    def after_commit_ms(self) -> float:
        return self.total_ms - self.update_ms


@dataclass
class Result:
    backend: str
    reports: int
    samples: list[Sample]
    duplicates: int
    late: int
    cpu_ms_per_report: dict[str, float] = field(default_factory=dict)
    api_idle_cpu: float = float("nan")  # share of one CPU the idle API used (its tailer)
    # ms per report each process's main thread was ready to run but waited for a CPU
    cpu_wait_ms_per_report: dict[str, float] = field(default_factory=dict)

    @property
    def missing(self) -> int:
        return self.reports - len(self.samples)


async def run_jobs(
    deck: Deck, ws: Any, http: Any, jobs: int, reports: int, interval_ms: float
) -> tuple[list[Sample], int, int]:
    """Create `jobs` bench jobs (staggered over one interval) and read the feed until they
    all end; returns their samples, how many progress events arrived twice, and how many
    reports could not keep the pace."""
    data = {"reports": reports, "interval_ms": interval_ms, "durations": True}
    job_ids: list[str] = []
    for _ in range(jobs):
        job_ids.append(await deck.create_job(http, data))
        if jobs > 1:
            await asyncio.sleep(interval_ms / 1000 / jobs)
    samples: dict[tuple[str, int], Sample] = {}
    duplicates = 0
    running = set(job_ids)
    async with asyncio.timeout(reports * interval_ms / 1000 + RUN_TIMEOUT_PAD_S):
        while running:
            raw = await ws.recv()
            received = time.time()
            message = json.loads(raw)
            if message.get("type") != "event" or message["event"]["jobId"] not in running:
                continue
            event = message["event"]
            if event["kind"] == "progress":
                seq_text, called_text = event["data"]["job"]["progress"]["message"].split()
                key = (event["jobId"], int(seq_text))
                if key in samples:
                    duplicates += 1
                else:
                    samples[key] = Sample(key[1], float(called_text), received)
            elif event["kind"] in ("completed", "failed", "cancelled"):
                if event["kind"] != "completed":
                    raise RuntimeError(f"bench job {event['jobId']} ended {event['kind']}")
                running.discard(event["jobId"])
    late = 0
    for job_id in job_ids:
        response = await http.get(f"/api/jobs/{job_id}")
        response.raise_for_status()
        result = response.json().get("result") or {}
        late += int(result.get("late", 0))
        durations = result.get("updateMs") or []
        for (owner, seq), sample in samples.items():
            if owner == job_id and 0 < seq <= len(durations):
                sample.update_ms = durations[seq - 1]
    return sorted(samples.values(), key=lambda s: s.called), duplicates, late


@dataclass
class Stack:
    """One backend's running API + worker, with the feed client and HTTP client open."""

    backend: str
    deck: Deck
    ws: Any
    http: Any
    api_idle_cpu: float = float("nan")
    rounds: list[Result] = field(default_factory=list)


async def start_stack(
    backend: str,
    args: argparse.Namespace,
    work: Path,
    procs: Processes,
    temporal: str,
    exits: contextlib.AsyncExitStack,
) -> Stack:
    """Start a backend's API and worker (stopped, and a scratch database dropped, when
    `exits` closes), connect the client and run the warm-up job."""
    if backend == "postgres":
        url = await exits.enter_async_context(scratch_postgres(args.postgres_url))
    else:
        url = f"sqlite+aiosqlite:///{work / 'jobdeck.db'}"
    # Registered after the database: the processes stop before it is dropped.
    exits.callback(procs.stop, f"{backend}-api", f"{backend}-worker")
    extra = {}
    if args.tail_interval_ms is not None:
        extra["JOBDECK_SQLITE_TAIL_INTERVAL_S"] = str(args.tail_interval_ms / 1000)
    deck = await start_deck(
        procs, work, name=backend, database_url=url, temporal_address=temporal, extra_env=extra
    )
    ws = await exits.enter_async_context(open_feed(deck))
    http = await exits.enter_async_context(deck.http())
    while json.loads(await ws.recv()).get("type") != "ready":
        pass
    if args.warmup:
        await run_jobs(deck, ws, http, 1, args.warmup, args.interval_ms)
    return Stack(backend, deck, ws, http)


async def measure_idle(stacks: list[Stack]) -> None:
    """Each API's CPU while nothing happens (the tailer's polling, LISTEN on PostgreSQL)."""
    before = [proc_cpu_seconds(s.deck.api_pid) for s in stacks]
    t0 = time.monotonic()
    await asyncio.sleep(IDLE_S)
    elapsed = time.monotonic() - t0
    for stack, cpu in zip(stacks, before, strict=True):
        stack.api_idle_cpu = (proc_cpu_seconds(stack.deck.api_pid) - cpu) / elapsed


async def measure_round(
    stack: Stack, procs: Processes, args: argparse.Namespace, index: int
) -> Result:
    deck = stack.deck
    temporal = next(p.pid for n, p in procs.procs if n == "temporal")
    pids = {"api": deck.api_pid, "worker": deck.worker_pid, "temporal": temporal}
    await asyncio.sleep(0.3)  # the previous round's tail settles
    before = {name: proc_cpu_seconds(pid) for name, pid in pids.items()}
    waited = {name: proc_cpu_wait_seconds(pid) for name, pid in pids.items()}
    samples, duplicates, late = await run_jobs(
        deck, stack.ws, stack.http, args.jobs, args.reports, args.interval_ms
    )
    after = {name: proc_cpu_seconds(pid) for name, pid in pids.items()}
    total = args.reports * args.jobs
    cpu = {name: (after[name] - before[name]) * 1000 / total for name in pids}
    wait = {
        name: (proc_cpu_wait_seconds(pid) - waited[name]) * 1000 / total
        for name, pid in pids.items()
    }
    print(
        f"  round {index + 1} {stack.backend}: call->receipt p95 "
        f"{percentile([s.total_ms for s in samples], 95):.2f} ms ({load_line()})"
    )
    return Result(stack.backend, total, samples, duplicates, late, cpu, stack.api_idle_cpu, wait)


def pooled(stack: Stack) -> Result:
    """Every round of a backend as one result (CPU: the mean of the rounds)."""
    rounds = stack.rounds
    cpu = {
        name: statistics.mean(r.cpu_ms_per_report[name] for r in rounds)
        for name in rounds[0].cpu_ms_per_report
    }
    wait = {
        name: statistics.mean(r.cpu_wait_ms_per_report[name] for r in rounds)
        for name in rounds[0].cpu_wait_ms_per_report
    }
    return Result(
        stack.backend,
        sum(r.reports for r in rounds),
        [s for r in rounds for s in r.samples],
        sum(r.duplicates for r in rounds),
        sum(r.late for r in rounds),
        cpu,
        stack.api_idle_cpu,
        wait,
    )


def dump(stacks: list[Stack], path: Path) -> None:
    for stack in stacks:
        out = path.with_name(f"{path.stem}-{stack.backend}{path.suffix or '.csv'}")
        rows = ["round,seq,called,received,update_ms,total_ms,after_commit_ms"]
        rows += [
            f"{i + 1},{s.seq},{s.called:.6f},{s.received:.6f},{s.update_ms},{s.total_ms:.3f},"
            f"{s.after_commit_ms:.3f}"
            for i, r in enumerate(stack.rounds)
            for s in r.samples
        ]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(rows) + "\n")
        print(f"samples: {out}")


def line(label: str, values: list[float]) -> str:
    return (
        f"    {label:<18} p50 {percentile(values, 50):7.2f}  p95 {percentile(values, 95):7.2f}  "
        f"p99 {percentile(values, 99):7.2f}  max {max(values, default=float('nan')):7.2f} ms"
    )


def report(stack: Stack, args: argparse.Namespace) -> bool:
    result = pooled(stack)
    total = [s.total_ms for s in result.samples]
    update = [s.update_ms for s in result.samples if s.update_ms == s.update_ms]
    after = [s.after_commit_ms for s in result.samples if s.update_ms == s.update_ms]
    goal = GOALS_MS[result.backend]
    p95 = percentile(total, 95)
    met = p95 < goal and result.missing == 0 and result.duplicates == 0
    rate = args.jobs * 1000 / args.interval_ms if args.interval_ms else float("inf")
    print(
        f"{result.backend}: {len(result.samples)}/{result.reports} reports received "
        f"({result.missing} missing, {result.duplicates} twice), paced at {rate:.0f}/s "
        f"({result.late} could not keep the pace)"
    )
    print(line("call -> receipt", total))
    print(line("call -> commit", update))
    print(line("commit -> receipt", after))
    if len(stack.rounds) > 1:
        per_round = [percentile([s.total_ms for s in r.samples], 95) for r in stack.rounds]
        print(
            f"    call->receipt p95 per round: {', '.join(f'{v:.2f}' for v in per_round)} ms "
            f"(median {statistics.median(per_round):.2f})"
        )
    cpu = ", ".join(f"{name} {ms:.2f}" for name, ms in result.cpu_ms_per_report.items())
    print(f"    CPU ms per report: {cpu}; idle API {result.api_idle_cpu:.1%} of a CPU")
    wait = ", ".join(f"{name} {ms:.2f}" for name, ms in result.cpu_wait_ms_per_report.items())
    print(f"    ms per report each main thread waited for a CPU (machine load): {wait}")
    print(
        f"    goal call->receipt p95 < {goal:.0f} ms (all rounds pooled): {p95:.2f} ms "
        f"({p95 / goal:.2f} of the goal) -> {'MET' if met else 'NOT MET'}"
    )
    return met


async def main_async(args: argparse.Namespace, work: Path, procs: Processes) -> int:
    names = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    load_before = load_line()
    temporal = await start_temporal(procs, work)
    async with contextlib.AsyncExitStack() as exits:
        stacks = [await start_stack(n, args, work, procs, temporal, exits) for n in names]
        await measure_idle(stacks)
        spied = {f"{s.backend}-api": s.deck.api_pid for s in stacks}
        spied |= {f"{s.backend}-worker": s.deck.worker_pid for s in stacks}
        with profiled(procs, args.py_spy, spied, args.profile_dir):
            for index in range(args.rounds):  # alternating: load from elsewhere hits both
                for stack in stacks:
                    stack.rounds.append(await measure_round(stack, procs, args, index))
    if args.dump:
        dump(stacks, args.dump)
    print()
    print(
        f"progress latency bench: {args.rounds} round(s) of {args.jobs} job(s) x "
        f"{args.reports} reports every {args.interval_ms:g} ms per backend (after "
        f"{args.warmup} warm-up reports), one /ws/jobs client, ProgressReporter(interval_s=0)"
    )
    print(f"before: {load_before}; after: {load_line()}")
    print()
    met = [report(s, args) for s in stacks]
    p95s = {s.backend: percentile([x.total_ms for x in pooled(s).samples], 95) for s in stacks}
    if len(p95s) == 2:
        print(f"p95 postgres/sqlite {p95s['postgres'] / p95s['sqlite']:.2f}")
    print(BULLMQ_NOTE)
    bullmq = ", ".join(f"{name} {p95 / 1.4:.1f}x" for name, p95 in p95s.items())
    print(f"    jobdeck call->receipt p95 / BullMQ p95: {bullmq}")
    return 0 if all(met) else 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Exit status: 0 when every goal is met, 2 when one is not, 1 on failure.",
    )
    parser.add_argument(
        "--backend",
        choices=["sqlite", "postgres", "both"],
        default="both",
        help="app database(s) to measure (default both)",
    )
    parser.add_argument("--reports", type=int, default=300, help="measured reports (300)")
    parser.add_argument(
        "--interval-ms", type=float, default=20.0, help="pace of the reports in ms (20)"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="jobs reporting at once, each --reports at the pace (1; more shows contention)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="measured rounds per backend, alternating between backends (3)",
    )
    parser.add_argument("--warmup", type=int, default=30, help="warm-up reports, not counted")
    parser.add_argument(
        "--postgres-url",
        default=POSTGRES_URL,
        help=f"server (and admin database) for the scratch database (default {POSTGRES_URL})",
    )
    parser.add_argument(
        "--tail-interval-ms",
        type=float,
        help="JOBDECK_SQLITE_TAIL_INTERVAL_S for the API, in ms (package default 5)",
    )
    parser.add_argument(
        "--dump", type=Path, help="write every sample to PATH-<backend>.csv (for plots)"
    )
    parser.add_argument(
        "--py-spy",
        metavar="PATH",
        help="py-spy binary: sample the API and the worker during the measured jobs (install "
        "it in a scratch venv: python -m venv /tmp/spy && /tmp/spy/bin/pip install py-spy)",
    )
    parser.add_argument(
        "--profile-dir",
        type=Path,
        default=Path("bench/results"),
        help="where --py-spy writes collapsed stacks (default bench/results)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp folder and its logs")
    args = parser.parse_args(argv)
    if min(args.reports, args.jobs, args.rounds) < 1 or args.warmup < 0 or args.interval_ms < 0:
        parser.error(
            "--reports, --jobs and --rounds must be at least 1, --warmup and --interval-ms at "
            "least 0"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_bench(
        "jobdeck-bench-latency-", args.keep, lambda work, procs: main_async(args, work, procs)
    )


if __name__ == "__main__":
    raise SystemExit(main())
