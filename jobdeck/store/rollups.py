"""The operator's charts at a million jobs: each bucket of a chart counted once.

A chart of a week is 168 hourly buckets of counts (created, completed, failed, cancelled
per job type) and the durations of the jobs that finished in them. Counted from the jobs
table on every view, a week of a busy organization reads hundreds of thousands of index
entries. But a bucket that ended a while ago no longer changes: a job's created_at is set
when it is created and its finished_at when it ends, both "now" at the time. So a bucket
is counted once, when first asked for after it is sealed (SEAL_LAG after its end), and
kept here as one row per (organization, bucket size, bucket, job type), plus a row for all
types together that also marks the bucket as counted. A view then reads the sealed
buckets' rows and counts only the unsealed tail (the last minutes) from the jobs table.

Durations are kept as a sketch (DurationSketch): counts of durations in logarithmic
bins, mergeable across buckets, each percentile read from it within about 1% of the exact
value. operations.py uses the sketches only where the exact percentiles would read too many
rows (EXACT_LIMIT); below that they are computed exactly, as before.

The one way a sealed bucket could change is a job row written late with an old
created_at: after a database outage the job's first step writes a row the API could not
(store/jobs.insert_job). That insert forgets the buckets around its created_at, so they are
counted again. Rows removed from the jobs table later are not taken out of the counts.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, cast, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from jobdeck.domain import TERMINAL_STATUSES
from jobdeck.store.tables import Job, JobRollup

# A bucket is final this long after its end: a job's row carries the time it was created
# or ended, written within moments of it (a late row forgets its buckets, see forget).
SEAL_LAG = timedelta(minutes=5)
# The largest bucket a chart uses (a week's hour): forget() clears this far back.
MAX_BUCKET = timedelta(hours=1)
ALL_TYPES = "*"
FINISHED = sorted(s.value for s in TERMINAL_STATUSES)
_COUNTS = ("created", *FINISHED)

# Bins grow by GAMMA: a value is read back as its bin's midpoint, within (GAMMA - 1) /
# (GAMMA + 1) ~ 1% of itself. Durations under a millisecond share one bin (read as 0).
GAMMA = 1.02
_LOG_GAMMA = math.log(GAMMA)
_SMALLEST = 0.001


class DurationSketch:
    """Durations in seconds, counted in logarithmic bins (the DDSketch idea)."""

    def __init__(self) -> None:
        self.bins: dict[int, int] = defaultdict(int)
        self.tiny = 0
        self.count = 0
        self.longest = 0.0

    def add(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        if seconds < _SMALLEST:
            self.tiny += 1
        else:
            self.bins[math.ceil(math.log(seconds) / _LOG_GAMMA)] += 1
        self.count += 1
        self.longest = max(self.longest, seconds)

    def merge(self, other: DurationSketch) -> None:
        for key, n in other.bins.items():
            self.bins[key] += n
        self.tiny += other.tiny
        self.count += other.count
        self.longest = max(self.longest, other.longest)

    def quantile(self, q: float) -> float:
        """The q-quantile, interpolated between ranks as percentile_cont does."""
        if self.count == 0:
            return 0.0
        keys = sorted(self.bins)
        ends: list[int] = []  # the rank after each bin's last, the tiny bin first
        total = self.tiny
        for key in keys:
            total += self.bins[key]
            ends.append(total)

        def value(rank: int) -> float:
            if rank < self.tiny:
                return 0.0
            key = keys[bisect_right(ends, rank)]
            # The bin (GAMMA^(key-1), GAMMA^key], read as the point of least relative error.
            return min(self.longest, 2 * GAMMA**key / (GAMMA + 1))

        position = q * (self.count - 1)
        low = math.floor(position)
        high = min(low + 1, self.count - 1)
        return value(low) + (value(high) - value(low)) * (position - low)

    def to_json(self) -> dict[str, Any]:
        return {
            "bins": {str(k): n for k, n in self.bins.items()},
            "tiny": self.tiny,
            "max": self.longest,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> DurationSketch:
        sketch = cls()
        if raw:
            for key, n in raw["bins"].items():
                sketch.bins[int(key)] = int(n)
            sketch.tiny = int(raw["tiny"])
            sketch.count = sketch.tiny + sum(sketch.bins.values())
            sketch.longest = float(raw["max"])
        return sketch


class Rolled:
    """Counts per bucket start and type (ALL_TYPES: every type), and a sketch per type."""

    def __init__(self) -> None:
        self.counts: dict[tuple[datetime, str], dict[str, int]] = {}
        self.sketches: dict[str, DurationSketch] = defaultdict(DurationSketch)

    def add(self, start: datetime, job_type: str, counts: dict[str, int], sketch: Any) -> None:
        self.counts[(start, job_type)] = {name: int(counts[name]) for name in _COUNTS}
        if job_type != ALL_TYPES and sketch:
            self.sketches[job_type].merge(DurationSketch.from_json(sketch))


def sealed_until(now: datetime, bucket_s: int) -> datetime:
    """The end of the last sealed bucket of this size."""
    edge = int((now - SEAL_LAG).timestamp()) // bucket_s * bucket_s
    return datetime.fromtimestamp(edge, UTC)


async def load(
    session: AsyncSession,
    *,
    organization_id: str,
    start: datetime,
    end: datetime,
    bucket_s: int,
) -> tuple[Rolled, list[datetime]]:
    """The counted buckets of [start, end) (bucket-aligned, end no later than
    sealed_until), and the starts of those not counted yet (see fill)."""
    rolled = Rolled()
    stmt = select(JobRollup).where(
        JobRollup.organization_id == organization_id,
        JobRollup.bucket_s == bucket_s,
        JobRollup.bucket_start >= start,
        JobRollup.bucket_start < end,
    )
    seen: set[datetime] = set()
    for row in (await session.execute(stmt)).scalars():
        counts = {name: getattr(row, name) for name in _COUNTS}
        rolled.add(row.bucket_start, row.type, counts, row.durations)
        if row.type == ALL_TYPES:
            seen.add(row.bucket_start)
    step = timedelta(seconds=bucket_s)
    missing = []
    at = start
    while at < end:
        if at not in seen:
            missing.append(at)
        at += step
    return rolled, missing


async def fill(
    session: AsyncSession,
    rolled: Rolled,
    *,
    organization_id: str,
    missing: list[datetime],
    bucket_s: int,
) -> None:
    """Count the `missing` buckets from the jobs table (in one pass from the first to the
    last), keep them and add them to `rolled` (in a write session)."""
    if not missing:
        return
    wanted = set(missing)
    span_end = missing[-1] + timedelta(seconds=bucket_s)
    rows = [
        values
        for values in await _count(session, organization_id, missing[0], span_end, bucket_s)
        if values["bucket_start"] in wanted
    ]
    for values in rows:
        rolled.add(values["bucket_start"], values["type"], values, values["durations"])
    await _keep(session, rows)


def _bucket_number(column: Any, dialect: str, bucket_s: int) -> Any:
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", column) / bucket_s), Integer)
    return cast(func.strftime("%s", column), Integer) // bucket_s


def _seconds(dialect: str) -> Any:
    if dialect == "postgresql":
        return func.date_part("epoch", Job.finished_at - Job.started_at)
    return (func.julianday(Job.finished_at) - func.julianday(Job.started_at)) * 86_400.0


async def _count(
    session: AsyncSession, organization_id: str, start: datetime, end: datetime, bucket_s: int
) -> list[dict[str, Any]]:
    """Every bucket of [start, end) counted from the jobs table: a row per type that has
    jobs in it, and the ALL_TYPES row (always, empty buckets too)."""
    dialect = session.get_bind().dialect.name
    counts: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(_COUNTS, 0))
    sketches: dict[tuple[int, str], DurationSketch] = defaultdict(DurationSketch)
    org = Job.organization_id == organization_id

    created = _bucket_number(Job.created_at, dialect, bucket_s).label("bucket")
    stmt = (
        select(created, Job.type, func.count())
        .where(org, Job.created_at >= start, Job.created_at < end)
        .group_by(created, Job.type)
    )
    for number, job_type, n in (await session.execute(stmt)).all():
        counts[(int(number), job_type)]["created"] += int(n)

    finished = _bucket_number(Job.finished_at, dialect, bucket_s).label("bucket")
    ended = [org, Job.finished_at >= start, Job.finished_at < end, Job.status.in_(FINISHED)]
    stmt = select(finished, Job.type, Job.status, func.count()).where(*ended)
    stmt = stmt.group_by(finished, Job.type, Job.status)
    for number, job_type, status, n in (await session.execute(stmt)).all():
        counts[(int(number), job_type)][status] += int(n)

    stmt = select(finished, Job.type, _seconds(dialect)).where(*ended, Job.started_at.is_not(None))
    for number, job_type, seconds in (await session.execute(stmt)).all():
        sketches[(int(number), job_type)].add(float(seconds))

    rows: list[dict[str, Any]] = []
    first = int(start.timestamp()) // bucket_s
    for number in range(first, int(end.timestamp()) // bucket_s):
        bucket_start = datetime.fromtimestamp(number * bucket_s, UTC)
        total = dict.fromkeys(_COUNTS, 0)
        for (n, job_type), values in counts.items():
            if n != number:
                continue
            for name in _COUNTS:
                total[name] += values[name]
            sketch = sketches.get((number, job_type))
            rows.append(
                {
                    "organization_id": organization_id,
                    "bucket_s": bucket_s,
                    "bucket_start": bucket_start,
                    "type": job_type,
                    **values,
                    "durations": sketch.to_json() if sketch and sketch.count else None,
                }
            )
        rows.append(
            {
                "organization_id": organization_id,
                "bucket_s": bucket_s,
                "bucket_start": bucket_start,
                "type": ALL_TYPES,
                **total,
                "durations": None,
            }
        )
    return rows


async def _keep(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Store counted buckets; another process that counted the same ones first wins (they
    hold the same counts)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(insert(JobRollup).on_conflict_do_nothing(), rows)


async def forget(session: AsyncSession, *, organization_id: str, when: datetime) -> None:
    """Count again every bucket that holds `when` (a row written late, see the module)."""
    await session.execute(
        delete(JobRollup).where(
            JobRollup.organization_id == organization_id,
            JobRollup.bucket_start <= when,
            JobRollup.bucket_start > when - MAX_BUCKET,
        )
    )
