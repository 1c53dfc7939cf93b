"""Fairness between organizations: how long one organization's job waits to start while
another floods the same task queue, against the same wait on an idle system.

    .venv/bin/python bench/fairness.py [--flood 1000] [--samples 20] [--slots 4] [--rounds 3]
        [--worker-process] [--org-limit N [--after-intake]] [--step-seconds 0.05]

One run starts a Temporal dev server (jobdeck's flags, `matching.enableFairness` on), a
SQLite app database in a temporary folder, and a worker with `--slots` activity slots
(concurrency limits out of the way, unless --org-limit sets the active jobs per
organization as JOBDECK_LIMIT_ACTIVE_JOBS does): in the bench's own process by default (as
in every earlier session's figures), or with --worker-process as its own `python -m
jobdeck worker` process, as deployed. In process, the worker shares one interpreter lock
with the flood's creates and the row polling, which slows A's side; as a process, A's jobs
go through faster and press harder on the two cores the server, the worker and the
creates share.

Each of `--rounds` rounds: organization B creates `--samples` one-step jobs, one at a
time, on the idle system (A's backlog of the round before has drained); then
organization A creates `--flood` jobs at once and, while A's backlog lasts, B again
creates `--samples` jobs one at a time (with --after-intake, once every A job has taken
its place in A's line or a slot: the flood queued, not still being taken in). Every job
is one step of --step-seconds (a sleep, as a provider call would be). Wait-to-start is
each B job's created_at -> started_at (the job row's times). It prints each round's
p95s, B's waits in order and each wait's stages, then p50/p95 of every round's samples
pooled and their ratio (the issue's goal: p95 at saturation < 2x idle), and where B's
wait goes, stage by stage, from each job's history. An eager activity (handed out with
the workflow task, not through the queue) shows a slot wait of 0; Temporal writes a
step's ACTIVITY_TASK_STARTED when the step ends, so for a step that runs long the "slot"
stage includes its run and the next is negative.

With 20 samples a p95 is the second-largest wait, so one slow sample moves a round's ratio
a lot; the pooled p95 (60 samples a phase with 3 rounds) is the figure. MET is printed only
when the 1-minute load at the start is under 1.0 and A's backlog lasted through every
round's samples.

Without fairness B's jobs would wait behind A's whole backlog (hundreds of jobs at about
4 jobs per 0.3 s: tens of seconds); with it they wait about one A task per slot, plus
whatever the one worker process is busy with when B's tasks reach it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stack import (  # noqa: E402 (the path above)
    Processes,
    jobdeck_env,
    load_line,
    percentile,
    repo_root,
    start_worker,
)


@dataclass(frozen=True)
class Shape:
    """One run's set-up, as the command line gave it."""

    flood: int
    samples: int
    slots: int
    rounds: int
    worker_process: bool
    org_limit: int
    step_seconds: float
    after_intake: bool


async def main(shape: Shape) -> None:
    from temporalio.api.enums.v1 import EventType
    from temporalio.testing import WorkflowEnvironment

    from jobdeck.admin import create_account
    from jobdeck.config import Settings
    from jobdeck.devserver import SINGLE_NODE_ARGS, TUNING_ARGS, temporal_binary
    from jobdeck.registry import load_registry
    from jobdeck.runtime import Runtime
    from jobdeck.services.jobs import JobControl, NewJob
    from jobdeck.store import jobs as job_store
    from jobdeck.store import limits as limit_store
    from jobdeck.store.accounts import Principal, Role
    from jobdeck.store.engine import Database
    from jobdeck.store.migrate import upgrade_async
    from jobdeck.temporal import SEARCH_ATTRIBUTES
    from jobdeck.worker import build_workers

    work = Path(tempfile.mkdtemp(prefix="bench-fairness-"))
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=[*SINGLE_NODE_ARGS, *TUNING_ARGS],
    )
    settings = Settings(
        data_dir=work,
        temporal_address=env.client.service_client.config.target_host,
        task_queue=f"bench-{uuid.uuid4().hex[:8]}",
        job_type_modules=["tests.jobtypes"],
        worker_max_concurrent_activities=shape.slots,
        worker_training="off",
        limit_active_jobs=shape.org_limit or 100_000,
        progress_interval_s=0.05,
        temporal_call_timeout_s=30,  # a loaded machine: a slow start is not an outage
    )
    await upgrade_async(settings.database_url)
    db = Database.connect(settings.database_url)
    registry = load_registry(settings.job_type_modules)
    runtime = Runtime.of(settings, db, env.client)
    control = JobControl(runtime, registry)

    async def principal(name: str) -> Principal:
        made = await create_account(
            db, organization=name, email=f"{name}@example.com", name=name, role=Role.ADMIN
        )
        return Principal(made.user_id, made.organization_id, Role.ADMIN, "bench")

    a, b = await principal("org-a"), await principal("org-b")
    step = {"steps": 1, "step_seconds": shape.step_seconds}

    async def wait_to_start(job_id: str) -> float:
        while True:
            async with db.read() as session:
                job = await job_store.find_job(session, job_id=job_id)
            if job is not None and job.started_at is not None:
                return (job.started_at - job.created_at).total_seconds()
            await asyncio.sleep(0.02)

    async def stages_of(job_id: str) -> dict[str, float]:
        """Where one job's wait went, from its workflow's history and its row."""
        async with db.read() as session:
            job = await job_store.find_job(session, job_id=job_id)
        assert job is not None and job.started_at is not None
        handle = env.client.get_workflow_handle(job_id)
        await handle.result()  # a step's ACTIVITY_TASK_STARTED is written when it ends
        history = await handle.fetch_history()
        times: dict[str, datetime] = {}
        for event in history.events:
            name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
            times.setdefault(name, event.event_time.ToDatetime(tzinfo=UTC))
        marks = [
            ("API: row to workflow started", job.created_at, times["WORKFLOW_EXECUTION_STARTED"]),
            (
                "first workflow task waits",
                times["WORKFLOW_EXECUTION_STARTED"],
                times["WORKFLOW_TASK_STARTED"],
            ),
            (
                "workflow task to step scheduled",
                times["WORKFLOW_TASK_STARTED"],
                times["ACTIVITY_TASK_SCHEDULED"],
            ),
            (
                "step waits for a slot",
                times["ACTIVITY_TASK_SCHEDULED"],
                times["ACTIVITY_TASK_STARTED"],
            ),
            ("slot taken to row started", times["ACTIVITY_TASK_STARTED"], job.started_at),
        ]
        return {name: (end - start).total_seconds() for name, start, end in marks}

    async def b_waits(label: str) -> tuple[list[float], list[dict[str, float]]]:
        waits, ids = [], []
        for i in range(shape.samples):
            job, _ = await control.create(b, NewJob("test-steps", f"b {label} {i}", step))
            waits.append(await wait_to_start(job.id))
            ids.append(job.id)
        return waits, [await stages_of(job_id) for job_id in ids]

    async def a_left() -> dict[str, int]:
        async with db.read() as session:
            return await job_store.job_stats(session, organization_id=a.organization_id)

    async def a_taken_in() -> int:
        """A's jobs that have a place in A's line or a slot, or have ended."""
        async with db.read() as session:
            held, waiting = await limit_store.slot_usage(session, organization_id=a.organization_id)
        left = await a_left()
        ended = left["total"] - left["pending"] - left["active"]
        return sum(held.values()) + sum(waiting.values()) + ended

    async def intake_done(ended_before: int) -> None:
        """Until every job of the flood has passed its first workflow task: in line for
        a slot, holding one, or ended."""
        taken = await a_taken_in()
        while taken - ended_before < shape.flood:
            await asyncio.sleep(0.2)
            taken = await a_taken_in()

    async def drained() -> None:
        """Until A has no job left pending or active (polled: rows, not events)."""
        left = await a_left()
        while left["pending"] + left["active"] > 0:
            await asyncio.sleep(0.2)
            left = await a_left()

    def worker_env() -> dict[str, str]:
        """The bench's settings for `python -m jobdeck worker` in its own process."""
        return jobdeck_env(
            JOBDECK_DATA_DIR=str(work),
            JOBDECK_DATABASE_URL=settings.database_url,
            JOBDECK_TEMPORAL_ADDRESS=settings.temporal_address,
            JOBDECK_TASK_QUEUE=settings.task_queue,
            JOBDECK_JOB_TYPE_MODULES='["tests.jobtypes"]',
            JOBDECK_WORKER_MAX_CONCURRENT_ACTIVITIES=str(shape.slots),
            JOBDECK_WORKER_TRAINING="off",
            JOBDECK_LIMIT_ACTIVE_JOBS=str(settings.limit_active_jobs),
            JOBDECK_PROGRESS_INTERVAL_S=str(settings.progress_interval_s),
            JOBDECK_TEMPORAL_CALL_TIMEOUT_S=str(settings.temporal_call_timeout_s),
        )

    gate = asyncio.Semaphore(8)

    async def one(label: str) -> None:
        async with gate:
            await control.create(a, NewJob("test-steps", f"a {label}", step))

    load_before, start_load = load_line(), os.getloadavg()[0]
    rounds_seen: list[Round] = []
    procs = Processes(work)
    try:
        async with AsyncExitStack() as in_process:
            if shape.worker_process:
                await start_worker(procs, "worker", worker_env(), repo_root())
            else:
                for worker in build_workers(runtime, registry):
                    await in_process.enter_async_context(worker)
            for r in range(shape.rounds):
                # Each round starts idle: A's backlog of the round before has drained.
                await drained()
                idle, idle_stages = await b_waits(f"{r} idle")
                ended_before = await a_taken_in() if shape.after_intake else 0
                await asyncio.gather(*(one(f"{r} {i}") for i in range(shape.flood)))
                if shape.after_intake:
                    await intake_done(ended_before)
                busy, busy_stages = await b_waits(f"{r} busy")
                pending = (await a_left())["pending"]
                rounds_seen.append(Round(idle, busy, idle_stages, busy_stages, pending))
    finally:
        procs.stop()
        await runtime.aclose()
        await db.dispose()
        await env.shutdown()
    report(rounds_seen, shape, (load_before, start_load), load_line())


@dataclass
class Round:
    idle: list[float]
    busy: list[float]
    idle_stages: list[dict[str, float]]
    busy_stages: list[dict[str, float]]
    a_pending_after: int  # A's jobs still pending when B's last busy sample had started


def report(
    rounds: list[Round],
    shape: Shape,
    start: tuple[str, float],
    after: str,
) -> None:
    """Each round's figures, then every round's samples pooled: with 20 samples a p95 is
    the second-largest wait, so one slow sample moves it; the pooled p95 is the figure."""
    out = print  # noqa: T201
    out(
        f"flood {shape.flood} jobs of A, one {shape.step_seconds:g} s step each, "
        f"{shape.slots} activity slots, {shape.samples} B jobs each phase, active jobs per "
        f"organization: {shape.org_limit or 'no limit'}"
        + (", B's samples after A's flood was taken in" if shape.after_intake else "")
    )
    before, start_load = start
    out(f"before: {before}")
    out(f"after:  {after}")
    for n, r in enumerate(rounds, 1):
        quiet_p95, busy_p95 = percentile(r.idle, 95), percentile(r.busy, 95)
        out(
            f"round {n}: B p95 idle {quiet_p95:.3f} s, A flooding {busy_p95:.3f} s"
            f" (ratio {busy_p95 / quiet_p95:.2f}); A pending at the end: {r.a_pending_after}"
        )
        # In order: a slow first sample is the worker still working through the flood's
        # first workflow tasks; slow samples throughout are the worker's CPU.
        out("   B waits, in order (ms):", " ".join(f"{w * 1000:.0f}" for w in r.busy))
        for stage in r.busy_stages[0]:
            stage_ms = (s[stage] * 1000 for s in r.busy_stages)
            out(f"   {stage + ' (ms):':<40}", " ".join(f"{w:.0f}" for w in stage_ms))
    idle = [w for r in rounds for w in r.idle]
    busy = [w for r in rounds for w in r.busy]
    out(f"all {len(rounds)} rounds pooled ({len(idle)} samples each phase):")
    for name, waits in (("idle", idle), ("A flooding", busy)):
        out(
            f"  B wait-to-start {name:>10}: p50 {statistics.median(waits):.3f} s, "
            f"p95 {percentile(waits, 95):.3f} s"
        )
    ratio = percentile(busy, 95) / percentile(idle, 95)
    saturated = all(r.a_pending_after > 0 for r in rounds)
    quiet = start_load < 1.0
    verdict = "MET" if ratio < 2 else "NOT MET"
    if not (quiet and saturated):
        verdict = "unreliable: " + (
            "the load at the start was 1.0 or more" if not quiet else "A's backlog ran out"
        )
    out(f"  p95 ratio flooding/idle: {ratio:.2f} (goal < 2): {verdict}")
    out("where B's wait goes (p50 / p95 ms, idle -> A flooding, pooled):")
    idle_stages = [s for r in rounds for s in r.idle_stages]
    busy_stages = [s for r in rounds for s in r.busy_stages]
    for stage in idle_stages[0]:
        quiet_ms = [s[stage] * 1000 for s in idle_stages]
        loaded_ms = [s[stage] * 1000 for s in busy_stages]
        out(
            f"  {stage:<34} {statistics.median(quiet_ms):6.1f} / {percentile(quiet_ms, 95):6.1f}"
            f"  ->  {statistics.median(loaded_ms):6.1f} / {percentile(loaded_ms, 95):6.1f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--org-limit",
        type=int,
        default=0,
        help="active jobs per organization (JOBDECK_LIMIT_ACTIVE_JOBS; default 0: no limit)",
    )
    parser.add_argument(
        "--worker-process",
        action="store_true",
        help="run the worker as its own `python -m jobdeck worker` process",
    )
    parser.add_argument(
        "--step-seconds",
        type=float,
        default=0.05,
        help="how long each job's one step waits, as a provider call would (default 0.05)",
    )
    parser.add_argument(
        "--after-intake",
        action="store_true",
        help="with --org-limit: B's busy samples start once every A job is in A's line or "
        "has a slot (the flood queued), not as soon as A's creates return",
    )
    args = parser.parse_args()
    if args.after_intake and not args.org_limit:
        parser.error(
            "--after-intake needs --org-limit: without a limit A's jobs wait in Temporal's "
            "task queue, which they reach as their creates return"
        )
    if args.org_limit < 0:
        parser.error(f"--org-limit must be 0 (no limit) or more, not {args.org_limit}")
    if not 0 <= args.step_seconds <= 60:
        parser.error(f"--step-seconds must be 0 to 60, not {args.step_seconds:g}")
    asyncio.run(main(Shape(**vars(args))))
