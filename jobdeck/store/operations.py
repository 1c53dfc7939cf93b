"""Aggregates for the operator's charts (issue 18): jobs created, completed, failed and
cancelled per time bucket, and duration percentiles by type, over one organization's jobs.

Each count is one GROUP BY over an index range, never a scan of the table:
- created per bucket reads ix_jobs_org_created (organization_id, created_at, id);
- finished per bucket and durations read ix_jobs_org_finished (organization_id,
  finished_at, status, type, started_at), which holds every column they need, so
  PostgreSQL answers them from the index alone (an index-only scan).
PostgreSQL computes the percentiles itself (percentile_cont); SQLite, which has no
ordered-set aggregates, returns the durations in order and they are picked here."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from jobdeck.domain import TERMINAL_STATUSES
from jobdeck.store.tables import Job

PERCENTILES = (0.5, 0.9, 0.99)
_FINISHED = sorted(s.value for s in TERMINAL_STATUSES)


@dataclass
class Bucket:
    start: datetime
    created: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0


@dataclass
class Durations:
    type: str
    count: int
    p50: float
    p90: float
    p99: float
    max: float


@dataclass
class Timeseries:
    start: datetime
    end: datetime
    bucket_s: int
    buckets: list[Bucket] = field(default_factory=list)
    durations: list[Durations] = field(default_factory=list)


def window(now: datetime, span: timedelta, bucket: timedelta) -> tuple[datetime, datetime]:
    """The range ending at the end of `now`'s bucket, `span` long, on bucket boundaries."""
    step = int(bucket.total_seconds())
    end_s = (math.floor(now.timestamp()) // step + 1) * step
    end = datetime.fromtimestamp(end_s, UTC)
    return end - span, end


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _bucket_of(column: Any, dialect: str, step: int) -> Any:
    """The bucket of a time: on PostgreSQL the time its bucket starts (date_bin, integer
    arithmetic on the timestamp: a third of the cost of dividing the epoch's numeric),
    elsewhere the bucket number, whole seconds since the epoch divided by `step`."""
    if dialect == "postgresql":
        return func.date_bin(timedelta(seconds=step), column, _EPOCH)
    return cast(func.strftime("%s", column), Integer) // step


def _number(bucket: Any, step: int) -> int:
    """The bucket number of what `_bucket_of` gave."""
    if isinstance(bucket, datetime):
        return int(bucket.timestamp()) // step
    return int(bucket)


def _seconds(dialect: str) -> Any:
    if dialect == "postgresql":
        # date_part is a float8, cheaper to sort than EXTRACT's numeric.
        return func.date_part("epoch", Job.finished_at - Job.started_at)
    return (func.julianday(Job.finished_at) - func.julianday(Job.started_at)) * 86_400.0


async def timeseries(
    session: AsyncSession,
    *,
    organization_id: str,
    start: datetime,
    end: datetime,
    bucket_s: int,
    job_type: str | None = None,
) -> Timeseries:
    dialect = session.get_bind().dialect.name
    first = int(start.timestamp()) // bucket_s
    count = (int(end.timestamp()) - int(start.timestamp())) // bucket_s
    buckets = [
        Bucket(start=datetime.fromtimestamp((first + i) * bucket_s, UTC)) for i in range(count)
    ]

    def put(bucket: Any, name: str, n: int) -> None:
        index = _number(bucket, bucket_s) - first
        if 0 <= index < count:
            setattr(buckets[index], name, getattr(buckets[index], name) + int(n))

    typed = [Job.type == job_type] if job_type else []
    created_bucket = _bucket_of(Job.created_at, dialect, bucket_s).label("bucket")
    created = (
        select(created_bucket, func.count())
        .where(
            Job.organization_id == organization_id,
            Job.created_at >= start,
            Job.created_at < end,
            *typed,
        )
        .group_by(created_bucket)
    )
    for number, n in (await session.execute(created)).all():
        put(number, "created", n)

    in_range = [
        Job.organization_id == organization_id,
        Job.finished_at >= start,
        Job.finished_at < end,
        Job.status.in_(_FINISHED),
        *typed,
    ]
    finished_bucket = _bucket_of(Job.finished_at, dialect, bucket_s).label("bucket")
    finished = (
        select(finished_bucket, Job.status, func.count())
        .where(*in_range)
        .group_by(finished_bucket, Job.status)
    )
    for number, status, n in (await session.execute(finished)).all():
        put(number, status, n)

    started = [*in_range, Job.started_at.is_not(None)]
    if dialect == "postgresql":
        durations = await _percentiles_in_sql(session, started)
    else:
        durations = await _percentiles_here(session, started, dialect)
    return Timeseries(start=start, end=end, bucket_s=bucket_s, buckets=buckets, durations=durations)


async def _percentiles_in_sql(session: AsyncSession, where: list[Any]) -> list[Durations]:
    seconds = _seconds("postgresql")
    stmt = (
        select(
            Job.type,
            func.count(),
            *(func.percentile_cont(p).within_group(seconds) for p in PERCENTILES),
            func.max(seconds),
        )
        .where(*where)
        .group_by(Job.type)
        .order_by(Job.type)
    )
    out = []
    for type, n, *values in (await session.execute(stmt)).all():
        p50, p90, p99, longest = (round(float(v), 3) for v in values)
        out.append(Durations(type, int(n), p50, p90, p99, longest))
    return out


async def _percentiles_here(
    session: AsyncSession, where: list[Any], dialect: str
) -> list[Durations]:
    seconds = _seconds(dialect).label("seconds")
    stmt = select(Job.type, seconds).where(*where).order_by(Job.type, seconds)
    by_type: dict[str, list[float]] = {}
    for type, value in (await session.execute(stmt)).all():
        by_type.setdefault(type, []).append(max(0.0, float(value)))
    out = []
    for type, values in by_type.items():
        p50, p90, p99 = (round(_percentile(values, p), 3) for p in PERCENTILES)
        out.append(Durations(type, len(values), p50, p90, p99, round(values[-1], 3)))
    return out


def _percentile(ordered: list[float], p: float) -> float:
    """Linear interpolation between the closest ranks, as PostgreSQL's percentile_cont."""
    position = p * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
