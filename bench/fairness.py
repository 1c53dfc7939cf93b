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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STEP = {"steps": 1, "step_seconds": 0.05}


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(flood: int, samples: int, slots: int) -> None:
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

    async def b_waits() -> list[float]:
        waits = []
        for i in range(samples):
            job, _ = await control.create(b, NewJob("test-steps", f"b {i}", STEP))
            waits.append(await wait_to_start(job.id))
        return waits

    try:
        workers = build_workers(runtime, registry)
        for worker in workers:
            await worker.__aenter__()
        idle = await b_waits()
        gate = asyncio.Semaphore(8)

        async def one(i: int) -> None:
            async with gate:
                await control.create(a, NewJob("test-steps", f"a {i}", STEP))

        await asyncio.gather(*(one(i) for i in range(flood)))
        busy = await b_waits()
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--slots", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(main(args.flood, args.samples, args.slots))
