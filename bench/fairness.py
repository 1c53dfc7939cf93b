"""Fairness between organizations: how long one organization's job waits to start while
another floods the same task queue, against the same wait on an idle system.

    .venv/bin/python bench/fairness.py [--flood 1000] [--samples 20] [--slots 4]

One run starts a Temporal dev server (jobdeck's flags, `matching.enableFairness` on), a
SQLite app database in a temporary folder, and an in-process worker with `--slots`
activity slots (concurrency limits out of the way). Organization B creates `--samples`
one-step jobs, one at a time, on the idle system; then organization A creates `--flood`
jobs at once and, while A's backlog lasts, B again creates `--samples` jobs one at a time.
Wait-to-start is each B job's created_at -> started_at (the job row's times). It prints
p50/p95 of both and their ratio (the issue's goal: p95 at saturation < 2x idle).

Measured on the project's 2-core machine shared with seven other sessions' test runs
(load average 12-14 during the run), so under load, not a clean figure:

    .venv/bin/python bench/fairness.py --flood 1000 --samples 20 --slots 4

    flood 1000 jobs of A, 4 activity slots, 20 B jobs each phase
    A's jobs still pending when B's last sample started: 659
    B wait-to-start       idle: p50 0.096 s, p95 0.239 s
    B wait-to-start A flooding: p50 0.332 s, p95 0.505 s
    p95 ratio flooding/idle: 2.11 (goal < 2)

Without fairness B's jobs would wait behind A's whole backlog (659+ jobs at ~4 jobs per
0.3 s: tens of seconds); with it they wait about one A task per slot.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STEP = {"steps": 1, "step_seconds": 0.05}


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(flood: int, samples: int, slots: int) -> None:
    from temporalio.api.enums.v1 import EventType
    from temporalio.testing import WorkflowEnvironment

    from jobdeck.admin import create_account
    from jobdeck.config import Settings
    from jobdeck.devserver import SINGLE_NODE_ARGS, TUNING_ARGS, temporal_binary
    from jobdeck.registry import load_registry
    from jobdeck.runtime import Runtime
    from jobdeck.services.jobs import JobControl, NewJob
    from jobdeck.store import jobs as job_store
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
        worker_max_concurrent_activities=slots,
        worker_training="off",
        limit_active_jobs=100_000,
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
        history = await env.client.get_workflow_handle(job_id).fetch_history()
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

    async def b_waits() -> tuple[list[float], list[dict[str, float]]]:
        waits, ids = [], []
        for i in range(samples):
            job, _ = await control.create(b, NewJob("test-steps", f"b {i}", STEP))
            waits.append(await wait_to_start(job.id))
            ids.append(job.id)
        return waits, [await stages_of(job_id) for job_id in ids]

    try:
        workers = build_workers(runtime, registry)
        for worker in workers:
            await worker.__aenter__()
        idle, idle_stages = await b_waits()
        gate = asyncio.Semaphore(8)

        async def one(i: int) -> None:
            async with gate:
                await control.create(a, NewJob("test-steps", f"a {i}", STEP))

        await asyncio.gather(*(one(i) for i in range(flood)))
        busy, busy_stages = await b_waits()
        async with db.read() as session:
            stats = await job_store.job_stats(session, organization_id=a.organization_id)
        for worker in workers:
            await worker.__aexit__(None, None, None)
    finally:
        await runtime.aclose()
        await db.dispose()
        await env.shutdown()
    print(f"flood {flood} jobs of A, {slots} activity slots, {samples} B jobs each phase")  # noqa: T201
    print(f"A's jobs still pending when B's last sample started: {stats['pending']}")  # noqa: T201
    for name, waits in (("idle", idle), ("A flooding", busy)):
        print(  # noqa: T201
            f"B wait-to-start {name:>10}: p50 {statistics.median(waits):.3f} s, "
            f"p95 {_p(waits, 0.95):.3f} s"
        )
    print(f"p95 ratio flooding/idle: {_p(busy, 0.95) / _p(idle, 0.95):.2f} (goal < 2)")  # noqa: T201
    print("where B's wait goes (p50 / p95 ms, idle -> A flooding):")  # noqa: T201
    for stage in idle_stages[0]:
        quiet = [s[stage] * 1000 for s in idle_stages]
        loaded = [s[stage] * 1000 for s in busy_stages]
        print(  # noqa: T201
            f"  {stage:<34} {statistics.median(quiet):6.1f} / {_p(quiet, 0.95):6.1f}"
            f"  ->  {statistics.median(loaded):6.1f} / {_p(loaded, 0.95):6.1f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--slots", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(main(args.flood, args.samples, args.slots))
