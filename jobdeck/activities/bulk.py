"""The bulk-operation job's side effects: list the matching jobs as the job's items, then
cancel or retry them through the item runner (activities/items.py), one outcome per target
job: cancelled or retried (with the new job's id), skipped and why, or failed and why.

`plan` and `apply_page` are the steps of the operation before the item runner; histories
recorded from them still replay (see workflows/bulk.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio import activity

from jobdeck.activities.base import ActivityGroup, JobActions
from jobdeck.activities.items import (
    HandlerBase,
    ItemBatchInput,
    ItemBatchResult,
    ItemRunner,
    ItemSeedInput,
    ItemSeedResult,
)
from jobdeck.activities.progress import ProgressReporter
from jobdeck.clock import utcnow
from jobdeck.domain import JobFilter
from jobdeck.errors import Conflict, NotFound
from jobdeck.store import jobs as job_store
from jobdeck.store.accounts import Principal, Role
from jobdeck.store.items import Item, ItemStatus, NewItem, Outcome

PAGE_SIZE = 100


@dataclass
class BulkPlanInput:
    job_id: str
    organization_id: str
    filter: JobFilter


@dataclass
class BulkPlan:
    total: int
    created_before: str  # only jobs that existed when the operation began are touched


@dataclass
class BulkCounts:
    processed: int = 0
    succeeded: int = 0
    skipped: int = 0  # not in a state the action applies to (e.g. cancelling a finished job)
    failed: int = 0

    def add(self, other: BulkCounts) -> None:
        self.processed += other.processed
        self.succeeded += other.succeeded
        self.skipped += other.skipped
        self.failed += other.failed


@dataclass
class BulkPageInput:
    job_id: str
    organization_id: str
    user_id: str
    action: str
    filter: JobFilter
    created_before: str
    total: int
    done: int = 0
    cursor: str | None = None


@dataclass
class BulkPageResult:
    counts: BulkCounts
    next_cursor: str | None = None
    new_job_ids: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


class BulkActivities(ActivityGroup):
    @activity.defn(name="bulk.plan")
    async def plan(self, plan: BulkPlanInput) -> BulkPlan:
        now = utcnow()
        async with self.db.read() as session:
            total = await job_store.count_jobs(
                session,
                organization_id=plan.organization_id,
                flt=plan.filter,
                created_before=now,
                exclude_id=plan.job_id,
            )
        return BulkPlan(total=total, created_before=now.isoformat())

    @activity.defn(name="bulk.apply_page")
    async def apply_page(self, page: BulkPageInput) -> BulkPageResult:
        async with self.db.read() as session:
            jobs, next_cursor = await job_store.list_jobs(
                session,
                organization_id=page.organization_id,
                flt=page.filter,
                limit=PAGE_SIZE,
                cursor=page.cursor,
                created_before=datetime.fromisoformat(page.created_before),
                exclude_id=page.job_id,
            )
        principal = Principal(
            user_id=page.user_id,
            organization_id=page.organization_id,
            role=Role.MEMBER,
            key_id=f"bulk:{page.job_id}",
        )
        result = BulkPageResult(counts=BulkCounts(), next_cursor=next_cursor)
        async with ProgressReporter(
            self.records, job_id=page.job_id, total=page.total, unit="jobs", stage=page.action
        ) as progress:
            for target in jobs:
                try:
                    if page.action == "cancel":
                        await self.jobs.cancel(principal, target.id)
                    else:
                        # Keyed per target, so a retried page never retries a job twice.
                        new = await self.jobs.retry(
                            principal, target.id, idempotency_key=f"bulk:{page.job_id}:{target.id}"
                        )
                        result.new_job_ids.append(new.id)
                    result.counts.succeeded += 1
                except (Conflict, NotFound):
                    result.counts.skipped += 1
                except Exception as err:  # one bad target must not stop the rest
                    result.counts.failed += 1
                    if len(result.errors) < 20:
                        result.errors.append({"jobId": target.id, "message": str(err)})
                result.counts.processed += 1
                await progress.update(
                    page.done + result.counts.processed,
                    message=f"{page.action}: {page.done + result.counts.processed} of {page.total}",
                )
        return result


def bulk_filter(raw: dict[str, Any], user_id: str) -> JobFilter:
    """The JobFilter of a bulk operation's `filter` (JobFilterData as JSON); owner `me` is
    `user_id`, who started the operation. Keys added later are absent from older runs."""

    def when(key: str) -> datetime | None:
        value = raw.get(key)
        return datetime.fromisoformat(value) if value else None

    owner = raw.get("owner")
    return JobFilter(
        statuses=list(raw.get("statuses", [])),
        types=list(raw.get("types", [])),
        q=raw.get("q"),
        ids=list(raw.get("ids", [])),
        priorities=[int(p) for p in raw.get("priorities") or []],
        user_ids=[user_id if owner == "me" else owner] if owner else [],
        created_after=when("created_after"),
        created_before=when("created_before"),
    )


def _principal(job_id: str, organization_id: str, user_id: str) -> Principal:
    return Principal(
        user_id=user_id, organization_id=organization_id, role=Role.MEMBER, key_id=f"bulk:{job_id}"
    )


class BulkHandler(HandlerBase):
    """Cancel or retry a chunk of target jobs, one outcome each."""

    def __init__(self, jobs: JobActions, principal: Principal, job_id: str, action: str) -> None:
        super().__init__()
        self.jobs = jobs
        self.principal = principal
        self.job_id = job_id
        self.action = action

    async def handle(self, items: Sequence[Item]) -> list[Outcome]:
        outcomes = []
        for item in items:
            try:
                if self.action == "cancel":
                    await self.jobs.cancel(self.principal, item.key)
                    outcome = Outcome(item.seq, ItemStatus.SUCCEEDED, {"cancelled": True})
                else:
                    # Keyed per target, so a redone chunk never retries a job twice.
                    new = await self.jobs.retry(
                        self.principal, item.key, idempotency_key=f"bulk:{self.job_id}:{item.key}"
                    )
                    self.notes.append(new.id)
                    outcome = Outcome(item.seq, ItemStatus.SUCCEEDED, {"newJobId": new.id})
            except (Conflict, NotFound) as err:  # the action does not apply to it (any more)
                outcome = Outcome(item.seq, ItemStatus.SKIPPED, error=str(err))
            except Exception as err:  # one bad target must not stop the rest
                outcome = Outcome(item.seq, ItemStatus.FAILED, error=str(err) or type(err).__name__)
            outcomes.append(outcome)
        return outcomes

    def message(self, done: int, total: int) -> str | None:
        return f"{self.action}: {done} of {total}"


class BulkItemActivities(ActivityGroup):
    """The bulk operation on the item runner: its targets are the job's items."""

    @activity.defn(name="bulk.seed_items")
    async def seed_items(self, run: ItemSeedInput) -> ItemSeedResult:
        flt = bulk_filter(run.params["filter"], run.user_id)
        # Only jobs that existed when the operation began are touched, never itself.
        before = datetime.fromisoformat(run.params["createdBefore"])

        async def targets() -> AsyncIterator[Sequence[NewItem]]:
            cursor: str | None = None
            while True:
                async with self.db.read() as session:
                    jobs, cursor = await job_store.list_jobs(
                        session,
                        organization_id=run.organization_id,
                        flt=flt,
                        limit=job_store.MAX_PAGE,
                        cursor=cursor,
                        created_before=before,
                        exclude_id=run.job_id,
                    )
                yield [
                    NewItem(j.id, {"name": j.name, "type": j.type, "status": j.status})
                    for j in jobs
                ]
                if cursor is None:
                    return

        return await ItemRunner(self.db, self.records).seed(run, targets)

    @activity.defn(name="bulk.work_items")
    async def work_items(self, batch: ItemBatchInput) -> ItemBatchResult:
        action = str(batch.params["action"])
        principal = _principal(batch.job_id, batch.organization_id, batch.user_id)
        handler = BulkHandler(self.jobs, principal, batch.job_id, action)
        return await ItemRunner(self.db, self.records).work(
            batch, handler, unit="jobs", stage=action
        )
