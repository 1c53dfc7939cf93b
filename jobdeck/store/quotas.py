"""The store's side of quotas: the bytes an organization stores (its datasets' and its
documents' files, and its pipeline runs' large step outputs), a lock that makes a check
and the write after it one step, the room a writer has under the quota, and the ended
jobs whose history has outlived their organization's retention."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from jobdeck.config import Settings
from jobdeck.domain import TERMINAL_STATUSES
from jobdeck.errors import QuotaExceeded
from jobdeck.fairness.quotas import STORAGE_BYTES, Quotas, storage_refusal
from jobdeck.store import limits as limit_store
from jobdeck.store import pipeline_blobs as blob_store
from jobdeck.store.tables import (
    Collection,
    Dataset,
    Document,
    FineTuning,
    FineTuningMetric,
    Job,
    JobEvent,
    JobItem,
    JobLog,
    JobSlot,
    Organization,
    OrganizationLimit,
    PipelineRunStep,
    StuckJob,
)

_TERMINAL = [s.value for s in TERMINAL_STATUSES]


async def lock_storage(session: AsyncSession, *, organization_id: str) -> None:
    """Until commit, no other writer checks or changes this organization's storage (on
    PostgreSQL an advisory lock of its own; SQLite's writers are one at a time already)."""
    if session.get_bind().dialect.name == "postgresql":
        key = func.hashtext(literal_column("'jobdeck-storage:'") + organization_id)
        await session.execute(select(func.pg_advisory_xact_lock(key)))


async def storage_used(session: AsyncSession, *, organization_id: str) -> int:
    """Bytes of the organization's dataset and document files and of its pipeline runs'
    stored step outputs."""
    datasets = select(func.coalesce(func.sum(Dataset.size_bytes), 0)).where(
        Dataset.organization_id == organization_id
    )
    # Through its collections, whose documents are indexed by collection.
    collections = select(Collection.id).where(Collection.organization_id == organization_id)
    documents = select(func.coalesce(func.sum(Document.size_bytes), 0)).where(
        Document.collection_id.in_(collections)
    )
    total = select(
        datasets.scalar_subquery()
        + documents.scalar_subquery()
        + blob_store.bytes_used(organization_id)
    )
    return int((await session.execute(total)).scalar_one())


@dataclass(frozen=True)
class StorageRoom:
    """An organization's storage quota and what it had used when this was read."""

    quota: int
    usage: int
    # Bytes an upload may replace rather than add (a collection's documents of the same
    # names): while streaming, the room is as large as if they were gone.
    replaceable: int = 0

    @property
    def left(self) -> int:
        return max(0, self.quota - self.usage + self.replaceable)

    def refuse(self, adding: int, *, what: str = "this upload") -> QuotaExceeded:
        return QuotaExceeded(
            storage_refusal(quota=self.quota, usage=self.usage, adding=adding, what=what),
            quota=STORAGE_BYTES,
            limit=self.quota,
            usage=self.usage,
            adding=adding,
        )


async def read_room(
    session: AsyncSession, settings: Settings, organization_id: str
) -> StorageRoom | None:
    """The organization's storage quota and usage now (None: no quota)."""
    overrides = await limit_store.overrides(session, organization_id=organization_id)
    quota = Quotas.of(settings, overrides).storage_bytes
    if quota is None:
        return None
    used = await storage_used(session, organization_id=organization_id)
    return StorageRoom(quota, used)


async def hold_storage(
    session: AsyncSession, settings: Settings, organization_id: str
) -> StorageRoom | None:
    """In the transaction that will record files: lock the organization's storage and
    read its room (pass it to `check_storage` once the rows are written)."""
    await lock_storage(session, organization_id=organization_id)
    return await read_room(session, settings, organization_id)


async def check_storage(
    session: AsyncSession,
    room: StorageRoom | None,
    organization_id: str,
    *,
    what: str = "this upload",
) -> None:
    """After the rows are written, before commit: over the quota, refuse (roll back)."""
    if room is None:
        return
    after = await storage_used(session, organization_id=organization_id)
    if after > room.quota:
        raise room.refuse(after - room.usage, what=what)


async def collection_bytes(session: AsyncSession, *, collection_id: str) -> int:
    """Bytes of a collection's documents' files."""
    stmt = select(func.coalesce(func.sum(Document.size_bytes), 0)).where(
        Document.collection_id == collection_id
    )
    return int((await session.execute(stmt)).scalar_one())


async def retention_days(
    session: AsyncSession, *, name: str, default: int
) -> list[tuple[str, int]]:
    """(organization, days) for every organization whose ended jobs expire: its own value
    of the limit `name`, else `default` (0: none expire)."""
    own = {
        org: days
        for org, days in await session.execute(
            select(OrganizationLimit.organization_id, OrganizationLimit.value).where(
                OrganizationLimit.name == name
            )
        )
    }
    if not default:
        return sorted(own.items())
    everyone = (await session.execute(select(Organization.id))).scalars()
    return sorted((org, own.get(org, default)) for org in everyone)


def _expired(organization_id: str, before: datetime):  # type: ignore[no-untyped-def]
    parent = aliased(Job)
    running_parent = (
        select(parent.id)
        .where(parent.id == Job.parent_id, parent.status.not_in(_TERMINAL))
        .correlate(Job)
        .exists()
    )
    return and_(
        Job.organization_id == organization_id,
        Job.status.in_(_TERMINAL),
        Job.finished_at < before,
        # A child of a run still going stays as long as the run needs it.
        or_(Job.parent_id.is_(None), ~running_parent),
    )


async def prune_job_history(
    session: AsyncSession,
    *,
    organization_id: str,
    before: datetime,
    limit: int = 1000,
    released: list[str] | None = None,
) -> int:
    """Delete up to `limit` of the organization's jobs that ended before `before`, with
    their events, log lines, items, steps and fine-tuning records; returns how many jobs.
    What they made (datasets, models, documents) stays, its lineage ids kept. A run's
    stored step outputs no longer count; the keys no run holds any more are added to
    `released`, for the caller to delete their files once this commits."""
    ids: Sequence[str] = (
        (
            await session.execute(
                select(Job.id)
                .where(_expired(organization_id, before))
                .order_by(Job.finished_at)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    if not ids:
        return 0
    freed = await blob_store.release(session, job_ids=ids)
    if released is not None:
        released.extend(freed)
    for table, column in (
        (JobEvent, JobEvent.job_id),
        (JobLog, JobLog.job_id),
        (JobItem, JobItem.job_id),
        (PipelineRunStep, PipelineRunStep.job_id),
        (StuckJob, StuckJob.job_id),
        (JobSlot, JobSlot.job_id),
        (FineTuningMetric, FineTuningMetric.fine_tuning_id),
        (FineTuning, FineTuning.id),
    ):
        await session.execute(
            delete(table).where(column.in_(ids)).execution_options(synchronize_session=False)
        )
    await session.execute(
        delete(Job).where(Job.id.in_(ids)).execution_options(synchronize_session=False)
    )
    return len(ids)
