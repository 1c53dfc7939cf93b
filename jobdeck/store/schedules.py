"""The only door to the schedules, schedule_misses and stuck_jobs tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jobdeck.domain import JobStatus
from jobdeck.errors import NotFound
from jobdeck.store import pages
from jobdeck.store.tables import Job, Schedule, ScheduleMiss, StuckJob


async def insert_schedule(
    session: AsyncSession,
    *,
    schedule_id: str,
    organization_id: str,
    user_id: str,
    name: str,
    temporal_id: str,
    definition: dict[str, Any],
    action_version: int,
    now: datetime,
) -> Schedule:
    row = Schedule(
        id=schedule_id,
        organization_id=organization_id,
        user_id=user_id,
        name=name,
        temporal_id=temporal_id,
        definition=definition,
        missed_seen=0,
        skipped_seen=0,
        action_version=action_version,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def get_schedule(
    session: AsyncSession, *, organization_id: str, schedule_id: str
) -> Schedule:
    row = await session.get(Schedule, schedule_id, populate_existing=True)
    # Another organization's schedule is reported exactly like a missing one.
    if row is None or row.organization_id != organization_id:
        raise NotFound(f"schedule {schedule_id} not found")
    return row


async def count_schedules(session: AsyncSession, *, organization_id: str) -> int:
    stmt = (
        select(func.count())
        .select_from(Schedule)
        .where(Schedule.organization_id == organization_id)
    )
    return int((await session.execute(stmt)).scalar_one())


async def list_schedules(
    session: AsyncSession, *, organization_id: str, limit: int, cursor: str | None
) -> tuple[list[Schedule], str | None]:
    stmt = select(Schedule).where(Schedule.organization_id == organization_id)
    return await pages.keyset_page(session, stmt, Schedule, limit=limit, cursor=cursor)


async def all_schedules(session: AsyncSession) -> list[Schedule]:
    return list((await session.execute(select(Schedule))).scalars())


async def schedules_behind(session: AsyncSession, *, action_version: int) -> list[Schedule]:
    """The schedules whose Temporal Schedule may have an action older than this version."""
    stmt = select(Schedule).where(Schedule.action_version < action_version)
    return list((await session.execute(stmt)).scalars())


async def mark_action_version(
    session: AsyncSession, *, schedule_id: str, action_version: int
) -> None:
    """Record that the schedule's Temporal Schedule has this action version (never lower
    it: a worker of an older release starting beside a newer one leaves it as it is)."""
    await session.execute(
        update(Schedule)
        .where(Schedule.id == schedule_id, Schedule.action_version < action_version)
        .values(action_version=action_version)
    )


async def update_schedule(
    session: AsyncSession,
    *,
    row: Schedule,
    name: str,
    definition: dict[str, Any],
    action_version: int,
    now: datetime,
) -> Schedule:
    """The row of a schedule whose Temporal Schedule was just replaced (with the action of
    `action_version`)."""
    row.name = name
    row.definition = definition
    row.action_version = max(row.action_version, action_version)
    row.updated_at = now
    await session.flush()
    return row


async def delete_schedule(session: AsyncSession, *, row: Schedule) -> None:
    await session.execute(delete(ScheduleMiss).where(ScheduleMiss.schedule_id == row.id))
    await session.delete(row)


async def record_miss(
    session: AsyncSession,
    *,
    schedule_id: str,
    missed_seen: int,
    skipped_seen: int,
    misses: list[tuple[str, int]],
    now: datetime,
) -> list[ScheduleMiss]:
    """Store Temporal's counters as seen now, and a row per (reason, count) that rose."""
    row = await session.get(Schedule, schedule_id)
    if row is None:
        return []
    row.missed_seen, row.skipped_seen = missed_seen, skipped_seen
    rows = [
        ScheduleMiss(
            schedule_id=schedule_id,
            organization_id=row.organization_id,
            reason=reason,
            count=count,
            detected_at=now,
        )
        for reason, count in misses
    ]
    session.add_all(rows)
    await session.flush()
    return rows


async def record_refusal(
    session: AsyncSession, *, schedule_id: str, job_id: str, reason: str, now: datetime
) -> ScheduleMiss | None:
    """A run that fired but started no job (the checks of a new job refused it), named by
    the id its job would have had; recorded once however often its check is retried."""
    row = await session.get(Schedule, schedule_id)
    if row is None:
        return None
    stmt = select(ScheduleMiss).where(
        ScheduleMiss.schedule_id == schedule_id, ScheduleMiss.job_id == job_id
    )
    recorded = (await session.execute(stmt)).scalars().first()
    if recorded is not None:
        return recorded
    miss = ScheduleMiss(
        schedule_id=schedule_id,
        organization_id=row.organization_id,
        reason=reason,
        count=1,
        detected_at=now,
        job_id=job_id,
    )
    session.add(miss)
    await session.flush()
    return miss


async def refused_runs(
    session: AsyncSession, *, schedule_ids: list[str], job_ids: list[str]
) -> dict[str, ScheduleMiss]:
    """The refusals of the given firings (by the id each one's job would have had)."""
    if not schedule_ids or not job_ids:
        return {}
    stmt = select(ScheduleMiss).where(
        ScheduleMiss.schedule_id.in_(schedule_ids), ScheduleMiss.job_id.in_(job_ids)
    )
    return {
        miss.job_id: miss
        for miss in (await session.execute(stmt)).scalars()
        if miss.job_id is not None
    }


async def list_misses(
    session: AsyncSession, *, schedule_id: str, limit: int = 20
) -> list[ScheduleMiss]:
    stmt = (
        select(ScheduleMiss)
        .where(ScheduleMiss.schedule_id == schedule_id)
        .order_by(ScheduleMiss.id.desc())
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def recent_jobs(session: AsyncSession, *, schedule_id: str, limit: int = 10) -> list[Job]:
    stmt = (
        select(Job)
        .where(Job.schedule_id == schedule_id)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def running_jobs(session: AsyncSession, *, schedule_id: str) -> list[Job]:
    """The schedule's jobs not ended yet (pending or active), newest first."""
    stmt = (
        select(Job)
        .where(
            Job.schedule_id == schedule_id,
            Job.status.in_([JobStatus.PENDING.value, JobStatus.ACTIVE.value]),
        )
        .order_by(Job.created_at.desc(), Job.id.desc())
    )
    return list((await session.execute(stmt)).scalars())


async def jobs_by_id(session: AsyncSession, *, job_ids: list[str]) -> dict[str, Job]:
    if not job_ids:
        return {}
    stmt = select(Job).where(Job.id.in_(job_ids))
    return {job.id: job for job in (await session.execute(stmt)).scalars()}


# Stuck jobs.


async def stuck_jobs(session: AsyncSession, *, job_ids: list[str] | None = None) -> list[StuckJob]:
    stmt = select(StuckJob)
    if job_ids is not None:
        stmt = stmt.where(StuckJob.job_id.in_(job_ids))
    return list((await session.execute(stmt)).scalars())


async def mark_stuck(
    session: AsyncSession,
    *,
    job_id: str,
    organization_id: str,
    reason: str,
    since: datetime,
    now: datetime,
) -> StuckJob:
    row = StuckJob(
        job_id=job_id, organization_id=organization_id, reason=reason, since=since, detected_at=now
    )
    session.add(row)
    await session.flush()
    return row


async def clear_stuck(session: AsyncSession, *, job_id: str) -> None:
    await session.execute(delete(StuckJob).where(StuckJob.job_id == job_id))
