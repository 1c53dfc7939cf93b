"""The bulk-operation job's side effects: count the matching jobs, then cancel or retry
them a page at a time, reporting progress as it goes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio import activity

from jobdeck.activities.base import ActivityGroup
from jobdeck.activities.progress import ProgressReporter
from jobdeck.clock import utcnow
from jobdeck.domain import JobFilter
from jobdeck.errors import Conflict, NotFound
from jobdeck.store import jobs as job_store
from jobdeck.store.accounts import Principal, Role

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
