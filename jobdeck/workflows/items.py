"""The item runner, workflow side: seed a job's items once, then work them in calls of up
to thousands of items each (see activities/items.py), in `lanes` parallel activities.

Polling pattern: a loop of long, heartbeating activities with continue-as-new. Each call
adds 6 events to the history (scheduled, started, completed, and a workflow task) per
lane, so 10,000 items at 5,000 a call cost about 12 events; the run continues as new after
`batches_per_run` rounds (or when the server suggests it), so 100,000 items or more keep a
small history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ConfigDict, Field
    from pydantic.alias_generators import to_camel

    from jobdeck.activities.items import (
        ItemBatchInput,
        ItemBatchResult,
        ItemSeedInput,
        ItemSeedResult,
    )
    from jobdeck.domain import Progress
    from jobdeck.workflows.lifecycle import JobWorkflow
    from jobdeck.workflows.patches import EMPTY_ITEM_RUNS, patched


ITEM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)


class ItemRun(BaseModel):
    """Where an item job stands, carried across continue-as-new."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)
    seeded: bool = False
    total: int = 0
    after_seq: list[int] = Field(default_factory=list)  # per lane: the last item written
    finished: list[bool] = Field(default_factory=list)  # per lane
    done: int = 0  # items worked, as the workflow counted them (for the progress query)
    counts: dict[str, int] = Field(default_factory=dict)  # by status, once all are worked
    notes: list[str] = Field(default_factory=list)  # what the work calls noted, first 100


@dataclass
class ItemSteps:
    """How a job type runs its items: its seed and work activities and their sizing."""

    seed: Callable[[Any, ItemSeedInput], Awaitable[ItemSeedResult]]
    work: Callable[[Any, ItemBatchInput], Awaitable[ItemBatchResult]]
    unit: str
    stage: str
    params: dict[str, Any] = field(default_factory=dict)
    chunk_size: int = 100  # items per written chunk (and at most what a crash redoes)
    max_items: int = 5000  # items per activity call
    max_seconds: float = 60.0  # and its time budget
    lanes: int = 1  # activities working the items at once (items seq % lanes)
    heartbeat_timeout: timedelta = timedelta(seconds=30)  # a chunk must take less
    batches_per_run: int = 200  # rounds before continuing as new


async def run_items(
    wf: JobWorkflow[Any],
    steps: ItemSteps,
    run: ItemRun,
    resume: Callable[[ItemRun], BaseModel],
) -> ItemRun:
    """Work all items of `wf`'s job; returns the run with `counts` filled. Continues as new
    (with `resume(run)` as the next run's state) when the history has grown enough."""
    spec = wf.spec
    if not run.seeded:
        seeded = await workflow.execute_activity_method(
            steps.seed,
            ItemSeedInput(
                job_id=spec.job_id,
                organization_id=spec.organization_id,
                user_id=spec.user_id,
                retry_of=spec.retry_of,
                params=steps.params,
            ),
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(seconds=60),
            retry_policy=ITEM_RETRY,
        )
        run.seeded, run.total = True, seeded.total
        run.after_seq = [0] * steps.lanes
        if not run.total and patched(EMPTY_ITEM_RUNS):
            # Nothing matched: no work call, no progress to write.
            run.finished = [True] * steps.lanes
            return run
        run.finished = [False] * steps.lanes
        await wf.report(Progress(0, run.total, unit=steps.unit, stage=steps.stage), force=True)

    async def lane(index: int) -> ItemBatchResult:
        return await workflow.execute_activity_method(
            steps.work,
            ItemBatchInput(
                job_id=spec.job_id,
                organization_id=spec.organization_id,
                user_id=spec.user_id,
                total=run.total,
                after_seq=run.after_seq[index],
                params={**steps.params, "lane": index, "lanes": len(run.after_seq)},
                chunk_size=steps.chunk_size,
                max_items=steps.max_items,
                max_seconds=steps.max_seconds,
            ),
            start_to_close_timeout=timedelta(seconds=steps.max_seconds) + timedelta(hours=1),
            heartbeat_timeout=steps.heartbeat_timeout,
            retry_policy=ITEM_RETRY,
        )

    rounds = 0
    while True:
        open_lanes = [i for i, done in enumerate(run.finished) if not done]
        if not open_lanes:
            break
        results = await asyncio.gather(*(lane(i) for i in open_lanes))
        for index, result in zip(open_lanes, results, strict=True):
            run.after_seq[index] = result.last_seq
            run.finished[index] = result.finished
            run.done += result.processed
            run.notes = (run.notes + result.notes)[:100]
            # The lane that counted last saw every write: its count has the fewest pending.
            if result.finished and (
                not run.counts or result.counts.get("pending", 0) <= run.counts.get("pending", 0)
            ):
                run.counts = result.counts
        wf.state.progress = Progress(
            min(run.done, run.total), run.total, unit=steps.unit, stage=steps.stage
        )
        rounds += 1
        if not all(run.finished) and (
            rounds >= steps.batches_per_run or workflow.info().is_continue_as_new_suggested()
        ):
            wf.continue_as_new(resume(run))
    return run
