"""Aggregates for the operator's charts (issue 18): jobs created, completed, failed and
cancelled per time bucket, and duration percentiles by type, over one organization's jobs.

Buckets that ended more than a few minutes ago are counted once and kept
(store/rollups.py); what is counted here from the jobs table, for those first counts and
for the last minutes, is one GROUP BY over an index range, never a scan of the table:
- created per bucket reads ix_jobs_org_created (organization_id, created_at, id);
- finished per bucket and durations read ix_jobs_org_finished (organization_id,
  finished_at, status, type, started_at), which holds every column they need, so
  PostgreSQL answers them from the index alone (an index-only scan).
Percentiles are exact up to EXACT_LIMIT durations in the range: PostgreSQL computes them
itself (percentile_cont); SQLite, which has no ordered-set aggregates, returns the
durations in order and they are picked here. Past that, they are read from the buckets'
duration sketches (within about 1%) and marked approximate."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from jobdeck.domain import TERMINAL_STATUSES
from jobdeck.store import rollups
from jobdeck.store.engine import Database
from jobdeck.store.tables import Job, Organization

PERCENTILES = (0.5, 0.9, 0.99)
# Each chart's range and bucket: a minute for the last hour, 15 minutes for a day, an hour
# for a week (60, 96 and 168 points: enough to read a trend, few enough to draw at once).
RANGES: dict[str, tuple[timedelta, timedelta]] = {
    "hour": (timedelta(hours=1), timedelta(minutes=1)),
    "day": (timedelta(days=1), timedelta(minutes=15)),
    "week": (timedelta(weeks=1), timedelta(hours=1)),
}
# Up to this many durations in a range, its percentiles are computed exactly from them.
EXACT_LIMIT = 20_000
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
    # From the buckets' sketches (within about 1%), where exact would read too many rows.
    approximate: bool = False


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
    db: Database,
    *,
    organization_id: str,
    start: datetime,
    end: datetime,
    bucket_s: int,
    now: datetime,
    job_type: str | None = None,
) -> Timeseries:
    """The chart of [start, end): its sealed buckets from store/rollups.py (counted once,
    then read back), the rest counted from the jobs table."""
    first = int(start.timestamp()) // bucket_s
    count = (int(end.timestamp()) - int(start.timestamp())) // bucket_s
    buckets = [
        Bucket(start=datetime.fromtimestamp((first + i) * bucket_s, UTC)) for i in range(count)
    ]
    by_start = {b.start: b for b in buckets}
    sealed = min(max(rollups.sealed_until(now, bucket_s), start), end)
    rolled = await counted(
        db, organization_id=organization_id, start=start, end=sealed, bucket_s=bucket_s
    )
    for (bucket_start, kind), counts in rolled.counts.items():
        if kind == (job_type or rollups.ALL_TYPES) and bucket_start in by_start:
            for name, n in counts.items():
                setattr(by_start[bucket_start], name, n)
    sketches = {
        kind: sketch
        for kind, sketch in rolled.sketches.items()
        if job_type is None or kind == job_type
    }

    async with db.read() as session:
        dialect = session.get_bind().dialect.name

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
                Job.created_at >= sealed,
                Job.created_at < end,
                *typed,
            )
            .group_by(created_bucket)
        )
        for number, n in (await session.execute(created)).all():
            put(number, "created", n)

        def finished_in(since: datetime) -> list[Any]:
            return [
                Job.organization_id == organization_id,
                Job.finished_at >= since,
                Job.finished_at < end,
                Job.status.in_(_FINISHED),
                *typed,
            ]

        finished_bucket = _bucket_of(Job.finished_at, dialect, bucket_s).label("bucket")
        finished = (
            select(finished_bucket, Job.status, func.count())
            .where(*finished_in(sealed))
            .group_by(finished_bucket, Job.status)
        )
        for number, status, n in (await session.execute(finished)).all():
            put(number, status, n)

        if sum(s.count for s in sketches.values()) <= EXACT_LIMIT:
            # Few enough to read them all: exact, as percentile_cont gives them.
            started = [*finished_in(start), Job.started_at.is_not(None)]
            if dialect == "postgresql":
                durations = await _percentiles_in_sql(session, started)
            else:
                durations = await _percentiles_here(session, started, dialect)
        else:
            tail = [*finished_in(sealed), Job.started_at.is_not(None)]
            stmt = select(Job.type, _seconds(dialect)).where(*tail)
            for kind, seconds in (await session.execute(stmt)).all():
                sketches.setdefault(kind, rollups.DurationSketch()).add(float(seconds))
            durations = [_from_sketch(kind, sketches[kind]) for kind in sorted(sketches)]
    return Timeseries(start=start, end=end, bucket_s=bucket_s, buckets=buckets, durations=durations)


async def counted(
    db: Database, *, organization_id: str, start: datetime, end: datetime, bucket_s: int
) -> rollups.Rolled:
    """The sealed buckets of [start, end), those never counted counted now."""
    async with db.read() as session:
        rolled, missing = await rollups.load(
            session, organization_id=organization_id, start=start, end=end, bucket_s=bucket_s
        )
    if missing:
        async with db.write() as session:
            await rollups.fill(
                session, rolled, organization_id=organization_id, missing=missing, bucket_s=bucket_s
            )
    return rolled


async def warm(db: Database, *, now: datetime) -> int:
    """Count the sealed buckets of every chart range of the organizations that created
    jobs in the last week, so that no one's first look at a week waits for a week of
    counting; returns how many organizations."""
    span = max(s for s, _ in RANGES.values())
    async with db.read() as session:
        recent = select(Job.id).where(
            Job.organization_id == Organization.id, Job.created_at >= now - span
        )
        orgs = list(
            (await session.execute(select(Organization.id).where(recent.exists()))).scalars()
        )
    for org in orgs:
        for span, bucket in RANGES.values():
            start, end = window(now, span, bucket)
            bucket_s = int(bucket.total_seconds())
            sealed = min(max(rollups.sealed_until(now, bucket_s), start), end)
            await counted(db, organization_id=org, start=start, end=sealed, bucket_s=bucket_s)
    return len(orgs)


def _from_sketch(job_type: str, sketch: rollups.DurationSketch) -> Durations:
    p50, p90, p99 = (round(sketch.quantile(p), 3) for p in PERCENTILES)
    return Durations(
        job_type, sketch.count, p50, p90, p99, round(sketch.longest, 3), approximate=True
    )


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
