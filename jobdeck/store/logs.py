"""The only door to the job_logs table: the lines a job's own code logged through
`activity.logger`, appended in batches by the worker's capture, read by the API.

Each job keeps at most MAX_LINES_PER_JOB lines; past that, one last line counts what was
dropped, so a chatty job cannot fill the database. Lines past the event retention are
pruned with the events (jobdeck/events/retention.py)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from jobdeck.store.tables import JobLog

MAX_LINES_PER_JOB = 10_000
MAX_MESSAGE_CHARS = 4096
MAX_PAGE = 1000
MAX_ID = 2**63 - 1  # the largest id either database can hold
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_DROPPED = re.compile(r"^(\d+) more lines dropped")
_LOG_ORDER_LOCK = 0x6A6F626C  # any constant; only jobdeck takes it


@dataclass(frozen=True)
class LogLine:
    job_id: str
    time: datetime
    level: str
    message: str
    step: str | None = None
    attempt: int | None = None


def cap_message(message: str) -> str:
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[: MAX_MESSAGE_CHARS - 1] + "…"


def _dropped_text(count: int, cap: int) -> str:
    return f"{count} more lines dropped (at most {cap} lines are kept per job)"


async def append_lines(
    session: AsyncSession, lines: Iterable[LogLine], *, cap: int = MAX_LINES_PER_JOB
) -> int:
    """Append lines (in their order) in the caller's transaction, keeping each job within
    `cap` lines plus one "N more lines dropped" line; returns how many were stored."""
    by_job: dict[str, list[LogLine]] = defaultdict(list)
    for line in lines:
        by_job[line.job_id].append(line)
    if not by_job:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        # Ids become visible in id order, so a reader following `after` skips none.
        lock = text("SELECT pg_advisory_xact_lock(:lock)")
        await session.execute(lock, {"lock": _LOG_ORDER_LOCK})
    stored = 0
    for job_id, job_lines in by_job.items():
        counted = await session.execute(select(func.count()).where(JobLog.job_id == job_id))
        count = int(counted.scalar_one())
        room = max(0, cap - count)
        kept, dropped = job_lines[:room], len(job_lines) - room
        session.add_all(
            JobLog(
                job_id=job_id,
                time=line.time,
                level=line.level,
                message=cap_message(line.message),
                step=line.step,
                attempt=line.attempt,
            )
            for line in kept
        )
        stored += len(kept)
        if dropped > 0:
            await session.flush()
            marker = None
            if count >= cap:
                newest = JobLog.id.desc()
                last = await session.execute(
                    select(JobLog).where(JobLog.job_id == job_id).order_by(newest).limit(1)
                )
                marker = last.scalar_one_or_none()
                match = _DROPPED.match(marker.message) if marker and count > cap else None
                if match and marker is not None:
                    marker.message = _dropped_text(int(match.group(1)) + dropped, cap)
                    continue
            session.add(
                JobLog(
                    job_id=job_id,
                    time=job_lines[-1].time,
                    level="warning",
                    message=_dropped_text(dropped, cap),
                    step=None,
                    attempt=None,
                )
            )
    await session.flush()
    return stored


async def list_lines(
    session: AsyncSession,
    *,
    job_id: str,
    after: int = 0,
    level: str | None = None,
    q: str | None = None,
    limit: int = 500,
) -> list[JobLog]:
    """A job's lines past `after` in id order; `level` keeps that level and above, `q`
    keeps lines containing the text (any case)."""
    stmt = select(JobLog).where(JobLog.job_id == job_id, JobLog.id > after)
    if level:
        floor = LEVELS[level.lower()]
        stmt = stmt.where(JobLog.level.in_([name for name, no in LEVELS.items() if no >= floor]))
    if q:
        stmt = stmt.where(func.lower(JobLog.message).contains(q.lower(), autoescape=True))
    stmt = stmt.order_by(JobLog.id).limit(max(1, min(limit, MAX_PAGE)))
    return list((await session.execute(stmt)).scalars())


async def prune_lines(session: AsyncSession, *, before: datetime, limit: int = 10_000) -> int:
    """Delete up to `limit` lines logged before `before`; returns how many."""
    ids = select(JobLog.id).where(JobLog.time < before).order_by(JobLog.id).limit(limit)
    result = await session.execute(delete(JobLog).where(JobLog.id.in_(ids.scalar_subquery())))
    return int(getattr(result, "rowcount", 0) or 0)
