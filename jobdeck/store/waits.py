"""How long jobs waited to start, for /metrics: read from the jobs' `started` events
after a given event (the events' primary key, so a scrape reads only what is new)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from jobdeck.domain import EventKind
from jobdeck.store.tables import Job, JobEvent

MAX_ROWS = 50_000  # per scrape; the rest waits for the next one


async def newest_event(session: AsyncSession) -> int:
    return int((await session.execute(select(func.max(JobEvent.id)))).scalar() or 0)


async def waits_after(
    session: AsyncSession, *, after: int, limit: int = MAX_ROWS
) -> tuple[list[tuple[str, str, float]], int]:
    """(organization, type, seconds from created to started) of the jobs that started
    after event `after`, and the event to read after next time. Ids up to the newest event
    are all committed: writers append events in id order (store/events.py)."""
    newest = await newest_event(session)
    rows = (
        await session.execute(
            select(JobEvent.id, Job.organization_id, Job.type, Job.created_at, Job.started_at)
            .join(Job, Job.id == JobEvent.job_id)
            .where(
                JobEvent.id > after,
                JobEvent.id <= newest,
                JobEvent.kind == EventKind.STARTED.value,
            )
            .order_by(JobEvent.id)
            .limit(limit)
        )
    ).all()
    waits = [
        (org, job_type, (started - created).total_seconds())
        for _, org, job_type, created, started in rows
        if started is not None
    ]
    return waits, (rows[-1][0] if len(rows) == limit else newest)
