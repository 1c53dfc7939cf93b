"""A job type for the item runner's tests, registered like any plugin (see conftest.py).

`test-items` lists `count` items (keys "item-1" ...) and works them with a handler that
fails every `fail_every`-th item and skips every `skip_every`-th, records in `HANDLED` how
often each item was handled (the tests run the worker in process), and on its first attempt
can die after `crash_after_chunks` chunks, as a SIGKILLed worker would, mid-activity.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError

from jobdeck.workflows.items import ItemRun, ItemSteps, run_items
from jobdeck.workflows.jobtype import JobType
from jobdeck.workflows.lifecycle import JobWorkflow

with workflow.unsafe.imports_passed_through():
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

HANDLED: Counter[str] = Counter()


class ItemsData(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)
    count: int = Field(default=10, ge=0, le=1_000_000)
    fail_every: int = Field(default=0, ge=0)
    skip_every: int = Field(default=0, ge=0)
    chunk_size: int = Field(default=100, ge=1)
    max_items: int = Field(default=5000, ge=1)
    lanes: int = Field(default=1, ge=1, le=8)
    batches_per_run: int = Field(default=200, ge=1)
    crash_after_chunks: int = Field(default=0, ge=0)
    max_failed: int | None = None  # more failed items fail the job


class Crash(Exception):
    """The activity dies mid-way (a SIGKILLed worker, as far as the runner can tell)."""


class TestHandler(HandlerBase):
    def __init__(self, params: dict[str, Any], attempt: int) -> None:
        super().__init__()
        self.params = params
        self.attempt = attempt
        self.chunks = 0

    async def handle(self, items: Sequence[Item]) -> list[Outcome]:
        crash_after = int(self.params.get("crash_after_chunks", 0))
        if crash_after and self.attempt == 1 and self.chunks >= crash_after:
            HANDLED.update(i.key for i in items)  # worked, but its outcomes never written
            raise Crash("killed mid-chunk")
        self.chunks += 1
        out = []
        for item in items:
            HANDLED[item.key] += 1
            n = int(item.key.rsplit("-", 1)[1])
            fail, skip = int(self.params["fail_every"]), int(self.params["skip_every"])
            if fail and n % fail == 0 and not self.params.get("retryOf"):
                out.append(Outcome(item.seq, ItemStatus.FAILED, error=f"item {n} is bad"))
            elif skip and n % skip == 0:
                out.append(Outcome(item.seq, ItemStatus.SKIPPED, error="nothing to do"))
            else:
                out.append(Outcome(item.seq, ItemStatus.SUCCEEDED, {"n": n}))
        return out


class ItemsActivities(ActivityGroup):
    @activity.defn(name="test-items.seed")
    async def seed(self, run: ItemSeedInput) -> ItemSeedResult:
        count = int(run.params["count"])

        async def listing() -> AsyncIterator[Sequence[NewItem]]:
            for start in range(1, count + 1, 1000):
                yield [NewItem(f"item-{n}") for n in range(start, min(count, start + 999) + 1)]

        return await ItemRunner(self.db, self.records).seed(run, listing)

    @activity.defn(name="test-items.work")
    async def work(self, batch: ItemBatchInput) -> ItemBatchResult:
        handler = TestHandler(batch.params, activity.info().attempt)
        return await ItemRunner(self.db, self.records).work(
            batch, handler, unit="items", stage="working"
        )


class ItemsResume(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)
    items: ItemRun


@workflow.defn(name="test-items")
class ItemsWorkflow(JobWorkflow[ItemsData]):
    @workflow.run
    async def run(self, spec: JobSpec) -> dict[str, Any] | None:
        return await self.run_job(spec)

    async def execute(self, spec: JobSpec, data: ItemsData) -> dict[str, Any] | None:
        resume = self.resumed(ItemsResume)
        steps = ItemSteps(
            seed=ItemsActivities.seed,
            work=ItemsActivities.work,
            unit="items",
            stage="working",
            params={**data.model_dump(), "retryOf": spec.retry_of},
            chunk_size=data.chunk_size,
            max_items=data.max_items,
            lanes=data.lanes,
            batches_per_run=data.batches_per_run,
        )
        run = await run_items(
            self, steps, resume.items if resume else ItemRun(), lambda r: ItemsResume(items=r)
        )
        failed = run.counts.get("failed", 0)
        if data.max_failed is not None and failed > data.max_failed:
            raise ApplicationError(
                f"{failed} items failed", type="TooManyFailed", non_retryable=True
            )
        return {"total": run.total, "counts": run.counts}


JOB_TYPES = [
    JobType(
        workflow=ItemsWorkflow,
        description="Items worked by the item runner (tests only)",
        activities=[ItemsActivities.seed, ItemsActivities.work],
    )
]
