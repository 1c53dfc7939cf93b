"""The only door to the job_events table: the append-only outbox every change of a job
writes, read by the API's tailer and by clients resuming with `after`.

Event ids must become visible in id order, or a tailer that has read id 11 would never
see a slower transaction's id 10. SQLite serialises writers, so that holds by itself; on
PostgreSQL each transaction that appends an event first takes one advisory lock, held to
its commit, so ids are assigned and committed in the same order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from jobdeck.domain import EventKind
from jobdeck.store.tables import Job, JobEvent

NOTIFY_CHANNEL = "jobdeck_events"
_EVENT_ORDER_LOCK = 0x6A6F6264  # any constant; only jobdeck takes it
_ORDERED = "jobdeck_events_ordered"

# What the hot paths write through: an ORM session, or a Core connection in a transaction
# (Database.transact_core), which runs prebuilt Core statements for less CPU.
Executor = AsyncSession | AsyncConnection

# The hot paths' statements, built once: building a statement per call (coercing its
# columns and values) cost more CPU than running it, and a prebuilt one's cache key and
# compiled form are found at once.
_INSERT_EVENT = insert(cast(Table, JobEvent.__table__)).values(
    job_id=bindparam("job_id"),
    organization_id=bindparam("organization_id"),
    kind=bindparam("kind"),
    data=bindparam("data"),
    created_at=bindparam("created_at"),
)
_ORDER_EVENTS = text("SELECT pg_advisory_xact_lock(:lock), pg_notify(:channel, '')").bindparams(
    lock=_EVENT_ORDER_LOCK, channel=NOTIFY_CHANNEL
)


def public_state(job: Job | Row[Any]) -> dict[str, Any]:
    """The part of a job that changes as it runs: carried by every event so a client can
    render from the event alone."""
    return {
        "id": job.id,
        "type": job.type,
        "name": job.name,
        "status": job.status,
        "progress": job.progress,
        "attempts": job.attempts,
        "error": job.error,
        "startedAt": job.started_at.isoformat() if job.started_at else None,
        "finishedAt": job.finished_at.isoformat() if job.finished_at else None,
        "retryOf": job.retry_of,
        "parentId": job.parent_id,
        "scheduleId": job.schedule_id,
    }


async def append_event(
    session: AsyncSession,
    *,
    job: Job,
    kind: EventKind,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> JobEvent:
    event = JobEvent(
        job_id=job.id,
        organization_id=job.organization_id,
        kind=kind.value,
        data={**(data or {}), "job": public_state(job)},
        created_at=now,
    )
    await order_events(session)
    session.add(event)
    await session.flush()
    return event


async def insert_event(
    session: Executor,
    *,
    state: Row[Any],
    kind: EventKind,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> None:
    """`append_event` as one Core insert, for a job's state read as a row (its columns as
    `public_state` names them): the hot paths' way, with no ORM unit of work. On a Core
    connection too (see Executor)."""
    await order(session)
    await session.execute(_INSERT_EVENT, _event_values(state, kind, now, data))


def _event_values(
    state: Row[Any], kind: EventKind, now: datetime, data: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "job_id": state.id,
        "organization_id": state.organization_id,
        "kind": kind.value,
        "data": {**(data or {}), "job": public_state(state)},
        "created_at": now,
    }


async def order_events(session: AsyncSession) -> None:
    """On PostgreSQL: take the event-order lock once per transaction, and NOTIFY the
    tailers (delivered at commit).

    A transaction that will append an event takes it before its first row lock (a job's
    row, an organization's): one that took a row lock first could wait for the event lock
    while the holder of the event lock waits for that row, a deadlock PostgreSQL breaks by
    failing one of them. So every writer takes the locks in one order: events, then
    rows."""
    if session.get_bind().dialect.name != "postgresql" or session.info.get(_ORDERED):
        return
    await session.execute(_ORDER_EVENTS)
    session.info[_ORDERED] = True


async def order_events_core(conn: AsyncConnection) -> None:
    """`order_events` on a Core connection: the lock is taken once per transaction (the
    connection's info remembers the transaction that took it)."""
    if conn.dialect.name != "postgresql" or _is_ordered(conn):
        return
    await conn.execute(_ORDER_EVENTS)
    conn.info[_ORDERED] = conn.sync_connection and conn.sync_connection.get_transaction()


def _is_ordered(conn: AsyncConnection) -> bool:
    # conn.info outlives the transaction (it is the pooled connection's), so it holds the
    # transaction object itself, which no later transaction can be.
    ordered = conn.info.get(_ORDERED)
    return ordered is not None and ordered is conn.sync_connection.get_transaction()  # type: ignore[union-attr]


async def order(db: Executor) -> None:
    """`order_events` or `order_events_core`, whichever `db` is."""
    if isinstance(db, AsyncConnection):
        await order_events_core(db)
    else:
        await order_events(db)


@asynccontextmanager
async def as_session(db: Executor) -> AsyncIterator[AsyncSession]:
    """An ORM session in `db`'s transaction: `db` itself, or, for a Core connection, a
    session joined to its transaction (for the rarer paths, written with the ORM), which
    neither commits nor closes it; what the session wrote is flushed before it goes. The
    event lock taken on one side counts for the other."""
    if isinstance(db, AsyncSession):
        yield db
        return
    session = AsyncSession(bind=db, expire_on_commit=False, autoflush=True)
    session.info[_ORDERED] = db.dialect.name == "postgresql" and _is_ordered(db)
    try:
        yield session
        await session.flush()
        if session.info.get(_ORDERED) and db.dialect.name == "postgresql":
            db.info[_ORDERED] = db.sync_connection and db.sync_connection.get_transaction()
    finally:
        await session.close()


async def list_events(
    session: AsyncSession,
    *,
    organization_id: str,
    job_id: str | None = None,
    job_ids: list[str] | None = None,
    after: int = 0,
    limit: int = 500,
) -> list[JobEvent]:
    """One organization's events past `after` in id order, optionally of some jobs only."""
    stmt = select(JobEvent).where(JobEvent.organization_id == organization_id, JobEvent.id > after)
    if job_id is not None:
        stmt = stmt.where(JobEvent.job_id == job_id)
    if job_ids:
        stmt = stmt.where(JobEvent.job_id.in_(job_ids))
    stmt = stmt.order_by(JobEvent.id).limit(max(1, min(limit, 1000)))
    return list((await session.execute(stmt)).scalars())


async def events_after(session: AsyncSession, *, after: int, limit: int = 500) -> list[JobEvent]:
    """Every organization's events past `after`, in id order: what a tailer reads."""
    stmt = select(JobEvent).where(JobEvent.id > after).order_by(JobEvent.id).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def event_bounds(session: AsyncSession) -> tuple[int, int]:
    """The oldest and newest event ids kept (0, 0 when there are none)."""
    # Two subqueries: SQLite reads one end of the index for a lone min() or max(), but
    # scans the whole table for both in one select.
    low, high = (
        await session.execute(
            select(
                select(func.min(JobEvent.id)).scalar_subquery(),
                select(func.max(JobEvent.id)).scalar_subquery(),
            )
        )
    ).one()
    return int(low or 0), int(high or 0)


async def newest_event_id(session: AsyncSession) -> int:
    return int((await session.execute(select(func.max(JobEvent.id)))).scalar() or 0)


async def prune_events(session: AsyncSession, *, before: datetime, limit: int = 10_000) -> int:
    """Delete up to `limit` events older than `before` (never job rows); returns how many."""
    ids = select(JobEvent.id).where(JobEvent.created_at < before).order_by(JobEvent.id).limit(limit)
    result = await session.execute(delete(JobEvent).where(JobEvent.id.in_(ids.scalar_subquery())))
    return int(getattr(result, "rowcount", 0) or 0)
