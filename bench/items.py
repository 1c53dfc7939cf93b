"""The item runner's no-op pipeline: items/s end to end, with every item's result written.

    .venv/bin/python bench/items.py [--items 100000] [--chunk 500] [--postgres]

One job of the bench-only type `bench-items` (defined here, loaded like any plugin) lists
--items items and works them with a handler that does nothing but return each item's
outcome ({"ok": true}), so what is measured is the runner itself: seeding the job_items
rows, reading each chunk, writing each chunk's outcomes in one statement, heartbeating the
checkpoint and progress, the workflow's calls and continue-as-new. It runs against a
Temporal dev server started here (SQLite file in a temp folder), a fresh SQLite app
database (or a scratch PostgreSQL one with --postgres), and a worker and the API app in
this process; the clock runs from POST /api/jobs to the job row reading `completed`.

Prints items/s (goal >= 4,000: BullMQ's 3,863 jobs/s on this machine), the split between
listing the items and working them, and the workflow history's events per 10,000 items.
bench/documents.py prints the same figure through `run_item_bench`.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from temporalio import activity, workflow

if __name__ == "__main__" or "bench" not in sys.modules:  # run as a script: bench.* importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jobdeck.workflows.items import ItemRun, ItemSteps, run_items
from jobdeck.workflows.jobtype import JobType
from jobdeck.workflows.lifecycle import JobWorkflow

with workflow.unsafe.imports_passed_through():
    import argparse
    import asyncio
    import time
    import uuid

    from jobdeck.activities.base import ActivityGroup
    from jobdeck.activities.items import (
        HandlerBase,
        ItemBatchInput,
        ItemBatchResult,
        ItemRunner,
        ItemSeedInput,
        ItemSeedResult,
    )
    from jobdeck.domain import JobSpec
    from jobdeck.store.items import Item, ItemStatus, NewItem, Outcome

JOB_TYPE_MODULE = "bench.items"


class NoopData(BaseModel):
    count: int = Field(default=1000, ge=0, le=10_000_000)
    chunk_size: int = Field(default=500, ge=1, le=10_000)
    max_items: int = Field(default=20_000, ge=1)


class NoopHandler(HandlerBase):
    async def handle(self, items: Sequence[Item]) -> list[Outcome]:
        return [Outcome(i.seq, ItemStatus.SUCCEEDED, {"ok": True}) for i in items]


class NoopActivities(ActivityGroup):
    @activity.defn(name="bench-items.seed")
    async def seed(self, run: ItemSeedInput) -> ItemSeedResult:
        count = int(run.params["count"])

        async def listing() -> AsyncIterator[Sequence[NewItem]]:
            for start in range(0, count, 2000):
                yield [NewItem(f"i{n}") for n in range(start, min(count, start + 2000))]

        return await ItemRunner(self.db, self.records).seed(run, listing)

    @activity.defn(name="bench-items.work")
    async def work(self, batch: ItemBatchInput) -> ItemBatchResult:
        return await ItemRunner(self.db, self.records).work(
            batch, NoopHandler(), unit="items", stage="working"
        )


class NoopResume(BaseModel):
    items: ItemRun


@workflow.defn(name="bench-items")
class NoopItemsWorkflow(JobWorkflow[NoopData]):
    @workflow.run
    async def run(self, spec: JobSpec) -> dict[str, Any] | None:
        return await self.run_job(spec)

    async def execute(self, spec: JobSpec, data: NoopData) -> dict[str, Any] | None:
        resume = self.resumed(NoopResume)
        steps = ItemSteps(
            seed=NoopActivities.seed,
            work=NoopActivities.work,
            unit="items",
            stage="working",
            params={"count": data.count},
            chunk_size=data.chunk_size,
            max_items=data.max_items,
        )
        run = await run_items(
            self, steps, resume.items if resume else ItemRun(), lambda r: NoopResume(items=r)
        )
        return {"total": run.total, "counts": run.counts}


JOB_TYPES = [
    JobType(
        workflow=NoopItemsWorkflow,
        description="No-op items on the item runner (benchmarks only)",
        activities=[NoopActivities.seed, NoopActivities.work],
    )
]


# --- the measurement ---------------------------------------------------------------------


async def _history_events(client: Any, job_id: str) -> tuple[int, int]:
    from temporalio.api.enums.v1 import EventType

    latest = await client.get_workflow_handle(job_id).fetch_history()
    run_id = latest.events[0].workflow_execution_started_event_attributes.first_execution_run_id
    events = runs = 0
    while run_id:
        history = await client.get_workflow_handle(job_id, run_id=run_id).fetch_history()
        events, runs = events + len(history.events), runs + 1
        last = history.events[-1]
        continued = last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
        attrs = last.workflow_execution_continued_as_new_event_attributes
        run_id = attrs.new_execution_run_id if continued else None
    return events, runs


async def measure(work: Path, procs: Any, items: int, chunk: int, postgres: bool) -> int:
    import contextlib

    import httpx
    from _stack import load_line, scratch_postgres, start_temporal
    from temporalio.client import Client

    from jobdeck.admin import create_account
    from jobdeck.api.app import create_app
    from jobdeck.config import Settings
    from jobdeck.registry import load_registry
    from jobdeck.runtime import Runtime
    from jobdeck.store import items as item_store
    from jobdeck.store.accounts import Role
    from jobdeck.store.engine import Database
    from jobdeck.store.migrate import upgrade_async
    from jobdeck.worker import build_workers

    print(f"item runner   {load_line()}")
    address = await start_temporal(procs, work)
    async with contextlib.AsyncExitStack() as stack:
        if postgres:
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
            job_type_modules=[JOB_TYPE_MODULE],
        )
        temporal = await Client.connect(address)
        registry = load_registry(settings.job_type_modules)
        runtime = Runtime.of(settings, db, temporal)
        app = create_app(settings, temporal=temporal, registry=registry)
        await stack.enter_async_context(app.router.lifespan_context(app))
        for worker in build_workers(runtime, registry):
            await stack.enter_async_context(worker)
        api = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://bench",
                headers={"Authorization": f"Bearer {account.key}"},
                timeout=60,
            )
        )
        body = {
            "type": "bench-items",
            "name": "no-op items",
            "data": {"count": items, "chunk_size": chunk},
        }
        started = time.perf_counter()
        response = await api.post("/api/jobs", json=body)
        response.raise_for_status()
        job_id = response.json()["id"]
        seeded_at = None
        while True:
            job = (await api.get(f"/api/jobs/{job_id}")).json()
            if seeded_at is None and job["progress"] and job["progress"].get("total"):
                seeded_at = time.perf_counter()
            if job["status"] in ("completed", "failed", "cancelled"):
                break
            await asyncio.sleep(0.02)
        took = time.perf_counter() - started
        if job["status"] != "completed":
            print(f"  the job ended {job['status']}: {job['error']}")
            return 1
        async with db.read() as session:
            counts = await item_store.count_by_status(session, job_id=job_id)
        events, runs = await _history_events(temporal, job_id)
        backend = "PostgreSQL" if postgres else "SQLite"
        print(f"  {items:,} no-op items, chunks of {chunk}, {backend}, worker and API in process")
        print(f"  end to end              {items / took:9.0f} items/s   (goal >= 4,000)")
        print(f"  total                   {took:9.2f} s")
        if seeded_at is not None:
            print(f"  listing the items       {seeded_at - started:9.2f} s")
        print(f"  results written         {counts['succeeded']:9,} succeeded")
        print(
            f"  history                 {events * 10_000 / max(items, 1):9.1f} events per "
            f"10,000 items ({events} in {runs} run(s))"
        )
    return 0


def run_item_bench(items: int = 100_000, chunk: int = 500, postgres: bool = False) -> int:
    from _stack import run_bench

    return run_bench(
        "jobdeck-bench-items-",
        False,
        lambda work, procs: measure(work, procs, items, chunk, postgres),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=500, help="items per written chunk")
    parser.add_argument("--postgres", action="store_true", help="the CI PostgreSQL server")
    args = parser.parse_args()
    return run_item_bench(args.items, args.chunk, args.postgres)


if __name__ == "__main__":
    sys.exit(main())
