"""A map step's side effects, in its child job (`pipeline-map`, workflows/pipeline_map.py):
list the items as the job's items (job_items rows: one outcome each), work them, and
collect their results into the step's output.

A transform, http or llm step runs for each item inside the item runner's work calls
(activities/items.py): a chunk of items at a time, up to `concurrency` of them at once,
each with its own tries (the step's `retry`, backing off) and its own limit (`timeout`),
so one item that keeps failing fails alone. A job step's items are child jobs, prepared
here a window at a time and started by the workflow.

The map job's data (the step, the items as written, the context with blob markers) is
read from its row by each call rather than passed in: a call's input stays small in the
history whatever the context holds.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from jobdeck.activities.items import (
    HandlerBase,
    ItemBatchInput,
    ItemBatchResult,
    ItemRunner,
    ItemSeedInput,
    ItemSeedResult,
)
from jobdeck.activities.outage import outlast
from jobdeck.activities.pipeline import RUN_TYPE, ChildJobPlan, PipelineActivities
from jobdeck.clock import utcnow
from jobdeck.domain import Progress
from jobdeck.errors import InvalidInput, Unavailable
from jobdeck.fairness.limits import fairness_weight
from jobdeck.pipelines import refs
from jobdeck.pipelines.maps import (
    DEFAULT_ATTEMPTS,
    DEFAULT_TIMEOUT_S,
    MAX_ERRORS,
    PipelineMapData,
)
from jobdeck.pipelines.spec import MAX_MAP_ITEMS, seconds_of
from jobdeck.store import items as item_store
from jobdeck.store import jobs as job_store
from jobdeck.store.accounts import Principal, Role
from jobdeck.store.items import Item, ItemStatus, NewItem, Outcome
from jobdeck.store.tables import Job

SEED_BATCH = 2000
BEAT_S = 5.0  # a chunk of slow items (llm calls) keeps its attempt alive this often
UNIT, STAGE = "items", "mapping"
# A map's child jobs get ids from the map job and the item, so that a window prepared
# again (a retried call) names the same jobs.
_CHILD_IDS = uuid.UUID("0b7f3b0e-8a0c-4d52-9a3e-5d1c2f6e7a91")


def _fail(message: str, kind: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


def _truthy(value: Any) -> bool:
    return value not in (False, None, "", [], {})


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a string" if isinstance(value, str) else "an object"


def child_job_id(map_job_id: str, seq: int) -> str:
    return str(uuid.uuid5(_CHILD_IDS, f"{map_job_id}:{seq}"))


@dataclass
class MapWindowInput:
    job_id: str
    organization_id: str
    after_seq: int
    limit: int


@dataclass
class MapChild:
    """An item of a job step and the child job to start for it."""

    seq: int
    plan: ChildJobPlan


@dataclass
class MapOutcome:
    seq: int
    status: str
    result: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class MapWindow:
    children: list[MapChild]
    # Items that start no job: skipped by the condition, or with data a job cannot take.
    settled: list[MapOutcome]
    last_seq: int  # the window's last item
    finished: bool  # no pending item after it


@dataclass
class MapOutcomesInput:
    job_id: str
    outcomes: list[MapOutcome]
    done: int  # items with an outcome, these included
    total: int


@dataclass
class MapCollectInput:
    job_id: str
    organization_id: str


@dataclass
class MapSummary:
    output: Any  # {results, total, succeeded, failed, skipped, errors}, or its blob marker
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)  # the first few


class ItemHandler(HandlerBase):
    """A transform, http or llm step for each item of a chunk, `concurrency` at once."""

    def __init__(self, group: MapActivities, data: PipelineMapData, context: dict[str, Any]):
        super().__init__()
        self.group = group
        self.context = context
        self.step = data.step.model_dump(mode="json", by_alias=True)
        self.condition = data.step.if_
        kind = data.step.kind
        retry = data.step.retry
        self.attempts = retry.max_attempts if retry else DEFAULT_ATTEMPTS[kind]
        self.backoff = seconds_of(retry.backoff) if retry else 1.0
        timeout = data.step.timeout
        self.timeout_s = seconds_of(timeout) if timeout is not None else DEFAULT_TIMEOUT_S[kind]
        self.slots = asyncio.Semaphore(data.concurrency)

    async def handle(self, items: Sequence[Item]) -> list[Outcome]:
        beat = asyncio.create_task(self._beat())
        try:
            return list(await asyncio.gather(*(self._one(item) for item in items)))
        finally:
            beat.cancel()

    @staticmethod
    async def _beat() -> None:
        # No details: the runner's checkpoint stays the items table (a retry scans from the
        # call's start; it only works what is still pending).
        while True:
            await asyncio.sleep(BEAT_S)
            activity.heartbeat()

    async def _one(self, item: Item) -> Outcome:
        async with self.slots:
            details = item.details or {}
            context = {**self.context, "item": details.get("item"), "index": details.get("index")}
            if self.condition is not None:
                try:
                    wanted = _truthy(jmespath.search(self.condition, context))
                except JMESPathError as err:
                    return Outcome(item.seq, ItemStatus.FAILED, error=f"if: {err}")
                if not wanted:
                    return Outcome(
                        item.seq, ItemStatus.SKIPPED, error=f"condition {self.condition!r} is false"
                    )
            return await self._tries(item.seq, context)

    async def _call(self, context: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
        async with asyncio.timeout(self.timeout_s):
            return await self.group.compute(self.step, context)

    async def _tries(self, seq: int, context: dict[str, Any]) -> Outcome:
        for attempt in range(1, self.attempts + 1):
            try:
                # A call's provider budget is drawn in the database (without Redis): while
                # the database is down the call waits, as the step would, rather than
                # spending the item's tries and failing it for something not its own.
                output, details = await outlast(partial(self._call, context), what="an item's call")
            except (JMESPathError, refs.ReferenceProblem) as err:
                return _failed(seq, attempt, "InvalidExpression", str(err))
            except ApplicationError as err:
                if err.non_retryable or attempt == self.attempts:
                    return _failed(seq, attempt, err.type or "Error", err.message)
            except TimeoutError:
                if attempt == self.attempts:
                    why = f"timed out after {self.timeout_s:g} s"
                    return _failed(seq, attempt, "Timeout", why)
            except Exception as err:  # noqa: BLE001 - an item's own failure, tried again
                if attempt == self.attempts:
                    return _failed(seq, attempt, type(err).__name__, str(err))
            else:
                result: dict[str, Any] = {"output": output, "attempts": attempt}
                if details:
                    result["details"] = details
                return Outcome(seq, ItemStatus.SUCCEEDED, result)
            await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")


def _failed(seq: int, attempts: int, kind: str, message: str) -> Outcome:
    return Outcome(
        seq, ItemStatus.FAILED, {"attempts": attempts, "type": kind}, error=message[:2000]
    )


class MapActivities(PipelineActivities):
    async def _data(self, job_id: str, organization_id: str) -> tuple[Job, PipelineMapData]:
        async with self.db.read() as session:
            job = await job_store.get_job(session, organization_id=organization_id, job_id=job_id)
        return job, PipelineMapData.model_validate(job.data)

    @activity.defn(name="pipeline-map.seed")
    async def seed(self, run: ItemSeedInput) -> ItemSeedResult:
        """The items, resolved from the run's context (a large list read from file
        storage), as the job's items: key = the index, details = {index, item}."""
        job, data = await self._data(run.job_id, run.organization_id)
        context = await self._expand(data.context)
        try:
            items = refs.resolve(data.items, context)
        except refs.ReferenceProblem as err:
            raise _fail(f"items: {err}", "InvalidExpression") from None
        if not isinstance(items, list):
            raise _fail(
                f"items must be a list; {data.items} is {_json_type(items)}", "MapItemsNotAList"
            )
        if len(items) > MAX_MAP_ITEMS:
            raise _fail(
                f"{len(items)} items; a map takes at most {MAX_MAP_ITEMS}", "MapTooManyItems"
            )

        async def listing() -> AsyncIterator[Sequence[NewItem]]:
            for start in range(0, len(items), SEED_BATCH):
                yield [
                    NewItem(str(start + i), {"index": start + i, "item": value})
                    for i, value in enumerate(items[start : start + SEED_BATCH])
                ]

        return await ItemRunner(self.db, self.records).seed(run, listing)

    @activity.defn(name="pipeline-map.work")
    async def work(self, batch: ItemBatchInput) -> ItemBatchResult:
        """Work the next items of a transform, http or llm step (see ItemHandler)."""
        _, data = await self._data(batch.job_id, batch.organization_id)
        handler = ItemHandler(self, data, await self._expand(data.context))
        return await ItemRunner(self.db, self.records).work(batch, handler, unit=UNIT, stage=STAGE)

    @activity.defn(name="pipeline-map.prepare_children")
    async def prepare_children(self, window: MapWindowInput) -> MapWindow:
        """The next pending items of a job step as child jobs, checked as POST /api/jobs
        checks a job; an item whose data is wrong fails alone, without a job."""
        job, data = await self._data(window.job_id, window.organization_id)
        async with self.db.read() as session:
            rows = await item_store.pending_items(
                session, job_id=window.job_id, after_seq=window.after_seq, limit=window.limit
            )
        if not rows:
            return MapWindow([], [], window.after_seq, finished=True)
        context = await self._expand(data.context)
        sub = data.step
        assert sub.kind == "job"
        if sub.job_type == RUN_TYPE:
            await self._check_depth(window.job_id, data.step_id)
        # The run's principal, as for its job steps (see PipelineActivities.prepare_job).
        run_id = job.parent_id or job.id
        principal = Principal(
            user_id=job.user_id,
            organization_id=job.organization_id,
            role=Role.MEMBER,
            key_id=f"pipeline:{run_id}",
        )
        children, settled = [], []
        for row in rows:
            details = row.details or {}
            index = details.get("index")
            item_context = {**context, "item": details.get("item"), "index": index}
            try:
                if sub.if_ is not None and not _truthy(jmespath.search(sub.if_, item_context)):
                    why = f"condition {sub.if_!r} is false"
                    settled.append(MapOutcome(row.seq, ItemStatus.SKIPPED.value, error=why))
                    continue
                item_data = refs.resolve(sub.data, item_context)
                name = refs.resolve(sub.job_name, item_context) if sub.job_name else None
                spec, queue = await self.jobs.prepare_started(
                    principal,
                    type=sub.job_type,
                    name=str(name or f"{job.name} #{index}")[:200],
                    data=item_data,
                    priority=sub.priority or job.priority,
                    job_id=child_job_id(job.id, row.seq),
                    parent_id=job.id,
                    created_at=utcnow().isoformat(),
                    progress_interval_s=self.settings.progress_interval_s,
                )
            except Unavailable:
                raise  # retried
            except (InvalidInput, JMESPathError, refs.ReferenceProblem) as err:
                settled.append(MapOutcome(row.seq, ItemStatus.FAILED.value, error=str(err)))
                continue
            plan = ChildJobPlan(
                spec=spec,
                task_queue=queue,
                search_attributes=self.settings.temporal_search_attributes,
                fairness_key=spec.organization_id,
                fairness_weight=fairness_weight(self.settings, spec.organization_id),
            )
            children.append(MapChild(row.seq, plan))
        return MapWindow(children, settled, rows[-1].seq, finished=len(rows) < window.limit)

    @activity.defn(name="pipeline-map.write_outcomes")
    async def write_outcomes(self, request: MapOutcomesInput) -> None:
        """Child jobs' outcomes as their items' rows, with the map job's progress."""
        outcomes = [
            Outcome(o.seq, ItemStatus(o.status), o.result, o.error) for o in request.outcomes
        ]

        async def work(session: AsyncSession) -> None:
            await item_store.write_outcomes(
                session, job_id=request.job_id, outcomes=outcomes, now=utcnow()
            )

        await self.db.transact(work)
        message = f"{request.done} of {request.total} {UNIT}"
        await self.records.save_progress(
            request.job_id,
            Progress(request.done, request.total, unit=UNIT, stage=STAGE, message=message),
        )

    @activity.defn(name="pipeline-map.collect")
    async def collect(self, request: MapCollectInput) -> MapSummary:
        """The step's output from the items' rows, in item order: kept in file storage
        (under the run, like any large step output) when it is large."""
        job, data = await self._data(request.job_id, request.organization_id)
        async with self.db.read() as session:
            counts = await item_store.count_by_status(session, job_id=request.job_id)
        total = sum(counts.values())
        results: list[Any] = [None] * total
        errors: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            async with self.db.read() as session:
                rows, cursor = await item_store.list_items(
                    session, job_id=request.job_id, cursor=cursor, limit=item_store.MAX_PAGE
                )
            for row in rows:
                index = int((row.details or {}).get("index", row.seq - 1))
                if row.status == ItemStatus.SUCCEEDED.value and 0 <= index < total:
                    results[index] = (row.result or {}).get("output")
                elif row.status == ItemStatus.FAILED.value and len(errors) < MAX_ERRORS:
                    errors.append({"index": index, "error": row.error})
            activity.heartbeat(len(rows))
            if cursor is None:
                break
        summary = MapSummary(
            output=None,
            total=total,
            succeeded=counts.get(ItemStatus.SUCCEEDED.value, 0),
            failed=counts.get(ItemStatus.FAILED.value, 0),
            skipped=counts.get(ItemStatus.SKIPPED.value, 0),
            errors=[{**e, "error": (e["error"] or "")[:500]} for e in errors[:5]],
        )
        output = {
            "results": results,
            "total": summary.total,
            "succeeded": summary.succeeded,
            "failed": summary.failed,
            "skipped": summary.skipped,
            "errors": errors,
        }
        run_id = job.parent_id or job.id
        summary.output = await self._keep(request.organization_id, run_id, data.step_id, output)
        return summary
