"""The only door to the fair-sharing tables: organizations' limit overrides, the line of
jobs waiting for (and holding) concurrency slots, and the WebSocket leases (the token
buckets are store/buckets.py's).

Admission is one pass under a per-organization lock (the organization's row, FOR UPDATE,
on PostgreSQL; SQLite's writers are serialized by BEGIN IMMEDIATE already): whoever enters
the line or leaves it runs the pass, which grants waiting jobs in priority then arrival
order while the organization's limits allow, so two processes never over-grant.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Table, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from jobdeck.domain import TERMINAL_STATUSES
from jobdeck.fairness.limits import WAITING_MESSAGE, Limits, waiting_message
from jobdeck.store import events as event_store
from jobdeck.store import jobs as job_store
from jobdeck.store.events import Executor
from jobdeck.store.tables import (
    Job,
    JobSlot,
    Organization,
    OrganizationLimit,
    SocketLease,
)

WAITING, HELD = "waiting", "held"
_TERMINAL = [s.value for s in TERMINAL_STATUSES]


def _insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _dialect(db: Executor) -> str:
    return db.dialect.name if isinstance(db, AsyncConnection) else db.get_bind().dialect.name


# The statements every job's start and end run (hold_at_once, free, ...), built once on
# the tables' own columns: no per-call building or cache-key generation, and no ORM
# execution path, on a session or a Core connection alike.
_SLOTS: Table = JobSlot.__table__  # type: ignore[assignment]
_LIMITS: Table = OrganizationLimit.__table__  # type: ignore[assignment]
_ORGANIZATIONS: Table = Organization.__table__  # type: ignore[assignment]
_OVERRIDES = select(_LIMITS.c.name, _LIMITS.c.value).where(
    _LIMITS.c.organization_id == bindparam("organization_id")
)
_LOCK_ORGANIZATION = (
    select(_ORGANIZATIONS.c.id)
    .where(_ORGANIZATIONS.c.id == bindparam("organization_id"))
    .with_for_update()
)
_SLOT_STATE = select(_SLOTS.c.state).where(_SLOTS.c.job_id == bindparam("job_id"))
_SLOTS_IN_USE = (
    select(_SLOTS.c.state, _SLOTS.c.job_type, func.count())
    .where(_SLOTS.c.organization_id == bindparam("organization_id"))
    .group_by(_SLOTS.c.state, _SLOTS.c.job_type)
)
_HOLD = {
    name: dialect_insert(_SLOTS)
    .values(
        job_id=bindparam("v_job_id"),
        organization_id=bindparam("v_organization_id"),
        job_type=bindparam("v_job_type"),
        priority=bindparam("v_priority"),
        state=HELD,
        requested_at=bindparam("v_now"),
        granted_at=bindparam("v_now"),
    )
    .on_conflict_do_nothing(index_elements=["job_id"])
    for name, dialect_insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
_FREE = (
    delete(_SLOTS).where(_SLOTS.c.job_id == bindparam("job_id")).returning(_SLOTS.c.organization_id)
)
_SOMEONE_WAITS = (
    select(_SLOTS.c.seq)
    .where(_SLOTS.c.organization_id == bindparam("organization_id"), _SLOTS.c.state == WAITING)
    .limit(1)
)


# --- overrides -----------------------------------------------------------------------


async def overrides(session: Executor, *, organization_id: str) -> dict[str, int]:
    rows = await session.execute(_OVERRIDES, {"organization_id": organization_id})
    return {name: value for name, value in rows}


async def set_overrides(
    session: AsyncSession,
    *,
    organization_id: str,
    values: Mapping[str, int | None],
    now: datetime,
) -> None:
    """Set (or, with None, remove) an organization's own limits."""
    for name, value in values.items():
        await session.execute(
            delete(OrganizationLimit).where(
                OrganizationLimit.organization_id == organization_id,
                OrganizationLimit.name == name,
            )
        )
        if value is not None:
            session.add(
                OrganizationLimit(
                    organization_id=organization_id, name=name, value=value, updated_at=now
                )
            )
    await session.flush()


# --- concurrency slots ---------------------------------------------------------------


async def _lock_organization(session: Executor, organization_id: str) -> None:
    # A pass may write jobs' events (show_place): the event lock comes first.
    await event_store.order(session)
    await session.execute(_LOCK_ORGANIZATION, {"organization_id": organization_id})


async def enter_line(
    session: AsyncSession,
    *,
    job_id: str,
    organization_id: str,
    job_type: str,
    priority: int,
    now: datetime,
) -> None:
    """Put the job in its organization's line, unless it is there (or holds a slot)."""
    stmt = (
        _insert(session)(JobSlot)
        .values(
            job_id=job_id,
            organization_id=organization_id,
            job_type=job_type,
            priority=priority,
            state=WAITING,
            requested_at=now,
        )
        .on_conflict_do_nothing(index_elements=["job_id"])
    )
    await session.execute(stmt)


async def find_slot(session: AsyncSession, *, job_id: str) -> JobSlot | None:
    return (
        await session.execute(select(JobSlot).where(JobSlot.job_id == job_id))
    ).scalar_one_or_none()


async def slot_state(db: Executor, *, job_id: str) -> str | None:
    """The job's slot's state (WAITING, HELD), None when it has none: what `find_slot`
    tells of it, by a prebuilt statement."""
    state: str | None = (await db.execute(_SLOT_STATE, {"job_id": job_id})).scalar()
    return state


async def free(session: Executor, *, job_id: str) -> str | None:
    """Free the job's slot (or its place in line), in one statement; returns its
    organization, if it had one."""
    freed = await session.execute(_FREE, {"job_id": job_id})
    organization_id: str | None = freed.scalar_one_or_none()
    return organization_id


async def someone_waits(session: Executor, *, organization_id: str) -> bool:
    found = await session.execute(_SOMEONE_WAITS, {"organization_id": organization_id})
    return found.first() is not None


async def hold_at_once(
    session: Executor,
    *,
    job_id: str,
    organization_id: str,
    job_type: str,
    priority: int,
    limits: Limits,
    now: datetime,
) -> bool:
    """The common case in one count and one insert: nobody of the organization waits and
    its limits leave room, so the job takes a slot without entering the line. False (and
    nothing written) otherwise: the caller then queues it (`enter_line`, `admit`)."""
    await _lock_organization(session, organization_id)
    rows = await session.execute(_SLOTS_IN_USE, {"organization_id": organization_id})
    held: Counter[str] = Counter()
    for state, held_type, count in rows:
        if state != HELD:
            return False  # others wait: the job goes behind them, in order
        held[held_type] += int(count)
    cap = limits.for_type(job_type)
    if sum(held.values()) >= limits.active_jobs or (cap is not None and held[job_type] >= cap):
        return False
    values = {
        "v_job_id": job_id,
        "v_organization_id": organization_id,
        "v_job_type": job_type,
        "v_priority": priority,
        "v_now": now,
    }
    await session.execute(_HOLD[_dialect(session)], values)
    return True


async def _reclaim(session: AsyncSession, organization_id: str) -> None:
    """Drop the slots of jobs that ended without leaving the line (a workflow terminated
    by an operator runs no cleanup): a slot never outlives its job. Looks up the jobs of
    the organization's slots (a handful), not the organization's ended jobs (millions)."""
    ended = (
        select(Job.id)
        .where(Job.id == JobSlot.job_id, Job.status.in_(_TERMINAL))
        .correlate(JobSlot)
        .exists()
    )
    await session.execute(
        delete(JobSlot)
        .where(JobSlot.organization_id == organization_id, ended)
        .execution_options(synchronize_session=False)
    )


def _line(organization_id: str):  # type: ignore[no-untyped-def]
    return (
        select(JobSlot)
        .where(JobSlot.organization_id == organization_id, JobSlot.state == WAITING)
        .order_by(JobSlot.priority, JobSlot.seq)
    )


async def admit(
    session: AsyncSession, *, organization_id: str, limits: Limits, now: datetime
) -> list[str]:
    """Grant slots to the organization's waiting jobs, in order, while its limits allow
    (a job whose type is at its limit lets the jobs behind it of other types pass).
    Returns the jobs let through."""
    await _lock_organization(session, organization_id)
    await _reclaim(session, organization_id)
    rows = await session.execute(
        select(JobSlot.job_type, func.count())
        .where(JobSlot.organization_id == organization_id, JobSlot.state == HELD)
        .group_by(JobSlot.job_type)
    )
    held: Counter[str] = Counter()
    for job_type, count in rows:
        held[job_type] = int(count)
    total = sum(held.values())
    if total >= limits.active_jobs:
        return []
    granted: list[str] = []
    waiting = (await session.execute(_line(organization_id).limit(10_000))).scalars()
    for slot in waiting:
        if total >= limits.active_jobs:
            break
        cap = limits.for_type(slot.job_type)
        if cap is not None and held[slot.job_type] >= cap:
            continue
        held[slot.job_type] += 1
        total += 1
        granted.append(slot.job_id)
    if granted:
        await session.execute(
            update(JobSlot)
            .where(JobSlot.job_id.in_(granted))
            .values(state=HELD, granted_at=now)
            .execution_options(synchronize_session=False)
        )
    return granted


async def ahead_of(session: AsyncSession, *, slot: JobSlot) -> int:
    """How many of its organization's jobs wait in line before this one."""
    before = or_(
        JobSlot.priority < slot.priority,
        and_(JobSlot.priority == slot.priority, JobSlot.seq < slot.seq),
    )
    stmt = select(func.count()).where(
        JobSlot.organization_id == slot.organization_id, JobSlot.state == WAITING, before
    )
    return int((await session.execute(stmt)).scalar_one())


async def line(session: AsyncSession, *, organization_id: str, limit: int) -> list[JobSlot]:
    """The first `limit` jobs waiting in the organization's line, in order."""
    return list((await session.execute(_line(organization_id).limit(limit))).scalars())


async def show_place(session: Executor, *, job_id: str, ahead: int | None, now: datetime) -> None:
    """Say in the pending job's progress where it waits (None: it got its slot, so the
    waiting message goes); writes only when the message changes."""
    message = None if ahead is None else waiting_message(ahead)
    await job_store.show_waiting(
        session, job_id=job_id, stage="queued", message=message, clears=WAITING_MESSAGE, now=now
    )


async def slot_usage(
    session: AsyncSession, *, organization_id: str
) -> tuple[Counter[str], Counter[str]]:
    """The organization's held and waiting slots, by job type."""
    rows = await session.execute(
        select(JobSlot.state, JobSlot.job_type, func.count())
        .where(JobSlot.organization_id == organization_id)
        .group_by(JobSlot.state, JobSlot.job_type)
    )
    held: Counter[str] = Counter()
    waiting: Counter[str] = Counter()
    for state, job_type, count in rows:
        (held if state == HELD else waiting)[job_type] += count
    return held, waiting


async def slot_counts(session: AsyncSession) -> list[tuple[str, str, int]]:
    """(organization, state, count) over every organization, for /metrics."""
    rows = await session.execute(
        select(JobSlot.organization_id, JobSlot.state, func.count()).group_by(
            JobSlot.organization_id, JobSlot.state
        )
    )
    return [(org, state, int(count)) for org, state, count in rows]


# --- WebSocket leases ----------------------------------------------------------------


async def open_lease(
    session: AsyncSession, *, key_id: str, cap: int, ttl: timedelta, now: datetime
) -> str | None:
    """A lease for one more socket of this key, or None when it holds `cap` live ones."""
    if session.get_bind().dialect.name == "postgresql":  # count and insert as one, per key
        await session.execute(select(func.pg_advisory_xact_lock(func.hashtext(key_id))))
    await session.execute(delete(SocketLease).where(SocketLease.expires_at < now))
    live = (
        await session.execute(
            select(func.count()).where(SocketLease.key_id == key_id, SocketLease.expires_at >= now)
        )
    ).scalar_one()
    if live >= cap:
        return None
    lease_id = str(uuid.uuid4())
    session.add(SocketLease(id=lease_id, key_id=key_id, expires_at=now + ttl))
    await session.flush()
    return lease_id


async def renew_leases(session: AsyncSession, *, lease_ids: Sequence[str], until: datetime) -> None:
    if lease_ids:
        await session.execute(
            update(SocketLease).where(SocketLease.id.in_(lease_ids)).values(expires_at=until)
        )


async def close_lease(session: AsyncSession, *, lease_id: str) -> None:
    await session.execute(delete(SocketLease).where(SocketLease.id == lease_id))
