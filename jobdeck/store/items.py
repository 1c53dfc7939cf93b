"""The only door to the job_items table: one row per item of a job that works item by
item (see activities/items.py). Items are numbered 1, 2, ... in the order they are worked
(`seq`); their `key` names what they are (a document id, a job id), once per job."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jobdeck.errors import InvalidInput
from jobdeck.store.tables import JobItem

MAX_PAGE = 500
DEFAULT_PAGE = 100


class ItemStatus(StrEnum):
    PENDING = "pending"  # listed, not processed yet (or processing was cut off)
    SUCCEEDED = "succeeded"  # processed completely
    PARTIAL = "partial"  # processed, with some parts (pages) failed
    NEEDS_OCR = "needs_ocr"  # nothing to read without OCR (scanned pages)
    FAILED = "failed"  # could not be processed; a retry of the job tries it again
    SKIPPED = "skipped"  # nothing to do for it (already done, or the action does not apply)


DONE_STATUSES = [s.value for s in ItemStatus if s is not ItemStatus.PENDING]
# What a retry of a job works again: what failed, and what it never reached.
UNFINISHED = [ItemStatus.PENDING.value, ItemStatus.FAILED.value]


@dataclass(frozen=True)
class NewItem:
    key: str
    details: dict[str, Any] | None = None


@dataclass(frozen=True)
class Item:
    seq: int
    key: str
    details: dict[str, Any] | None


@dataclass(frozen=True)
class Outcome:
    seq: int
    status: ItemStatus
    result: dict[str, Any] | None = None
    error: str | None = None


async def insert_items(
    session: AsyncSession, *, job_id: str, first_seq: int, items: Sequence[NewItem], now: datetime
) -> None:
    """Add items numbered from `first_seq`, pending (one multi-row statement)."""
    if not items:
        return
    await session.execute(
        insert(JobItem),
        [
            {
                "job_id": job_id,
                "seq": first_seq + i,
                "key": item.key,
                "status": ItemStatus.PENDING.value,
                "details": item.details,
                "result": None,
                "error": None,
                "created_at": now,
                "updated_at": now,
            }
            for i, item in enumerate(items)
        ],
    )


async def clear_items(session: AsyncSession, *, job_id: str) -> None:
    await session.execute(delete(JobItem).where(JobItem.job_id == job_id))


async def pending_items(
    session: AsyncSession, *, job_id: str, after_seq: int, limit: int, lane: int = 0, lanes: int = 1
) -> list[Item]:
    """The next pending items after `after_seq`, in order (of one lane: seq % lanes)."""
    stmt = (
        select(JobItem.seq, JobItem.key, JobItem.details)
        .where(
            JobItem.job_id == job_id,
            JobItem.status == ItemStatus.PENDING.value,
            JobItem.seq > after_seq,
        )
        .order_by(JobItem.seq)
        .limit(limit)
    )
    if lanes > 1:
        stmt = stmt.where(JobItem.seq % lanes == lane)
    return [Item(seq, key, details) for seq, key, details in (await session.execute(stmt)).all()]


async def write_outcomes(
    session: AsyncSession, *, job_id: str, outcomes: Sequence[Outcome], now: datetime
) -> None:
    """Store a chunk of items' outcomes in one executemany statement."""
    if not outcomes:
        return
    stmt = (
        update(JobItem)
        .where(JobItem.job_id == bindparam("b_job"), JobItem.seq == bindparam("b_seq"))
        .values(
            status=bindparam("b_status"),
            result=bindparam("b_result"),
            error=bindparam("b_error"),
            updated_at=bindparam("b_now"),
        )
    )
    # Core executemany by primary key (no ORM bulk path, which needs the full key as columns).
    await (await session.connection()).execute(
        stmt,
        [
            {
                "b_job": job_id,
                "b_seq": o.seq,
                "b_status": o.status.value,
                "b_result": o.result,
                "b_error": o.error,
                "b_now": now,
            }
            for o in outcomes
        ],
    )


async def count_by_status(session: AsyncSession, *, job_id: str) -> dict[str, int]:
    stmt = (
        select(JobItem.status, func.count())
        .where(JobItem.job_id == job_id)
        .group_by(JobItem.status)
    )
    counts = {s.value: 0 for s in ItemStatus}
    for status, count in (await session.execute(stmt)).all():
        counts[status] = int(count)
    return counts


async def count_done(session: AsyncSession, *, job_id: str) -> int:
    stmt = select(func.count()).where(
        JobItem.job_id == job_id, JobItem.status != ItemStatus.PENDING.value
    )
    return int((await session.execute(stmt)).scalar_one())


async def items_with_status(
    session: AsyncSession, *, job_id: str, statuses: Sequence[str], limit: int
) -> list[JobItem]:
    stmt = (
        select(JobItem)
        .where(JobItem.job_id == job_id, JobItem.status.in_(list(statuses)))
        .order_by(JobItem.seq)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def unfinished_items(
    session: AsyncSession, *, job_id: str, after_seq: int, limit: int
) -> list[Item]:
    """A finished job's items that a retry works again, in order, after `after_seq`."""
    stmt = (
        select(JobItem.seq, JobItem.key, JobItem.details)
        .where(JobItem.job_id == job_id, JobItem.status.in_(UNFINISHED), JobItem.seq > after_seq)
        .order_by(JobItem.seq)
        .limit(limit)
    )
    return [Item(seq, key, details) for seq, key, details in (await session.execute(stmt)).all()]


async def has_items(session: AsyncSession, *, job_id: str) -> bool:
    stmt = select(JobItem.seq).where(JobItem.job_id == job_id).limit(1)
    return (await session.execute(stmt)).first() is not None


def _cursor(raw: str | None) -> int:
    if not raw:
        return 0
    if not raw.isdigit() or len(raw) > 12:
        raise InvalidInput("cursor is not one this API gave out; pass the nextCursor of a page")
    return int(raw)


async def list_items(
    session: AsyncSession,
    *,
    job_id: str,
    statuses: Sequence[str] = (),
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE,
) -> tuple[list[JobItem], str | None]:
    """A job's items in work order, optionally of some statuses; the cursor is the last
    item's number, so a deep page costs what the first does."""
    limit = max(1, min(limit, MAX_PAGE))
    stmt = select(JobItem).where(JobItem.job_id == job_id, JobItem.seq > _cursor(cursor))
    if statuses:
        stmt = stmt.where(JobItem.status.in_(list(statuses)))
    stmt = stmt.order_by(JobItem.seq).limit(limit + 1)
    rows = list((await session.execute(stmt)).scalars())
    next_cursor = str(rows[limit - 1].seq) if len(rows) > limit else None
    return rows[:limit], next_cursor
