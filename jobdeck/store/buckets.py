"""Shared token buckets in the app database (the rate_buckets table): the API's rate
limits and the provider budgets, for every process on one database.

A bucket's row holds its level at `updated_at`; whoever draws refills it from the time
passed, under the row's lock (FOR UPDATE on PostgreSQL; SQLite's writers are serialized
by BEGIN IMMEDIATE already). Rows are locked in key order, so two draws over the same
buckets cannot deadlock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from jobdeck.clock import utcnow
from jobdeck.fairness.bucket import Bucket, refilled
from jobdeck.fairness.shared import Draw, shortfall_s
from jobdeck.store.engine import Database
from jobdeck.store.tables import RateBucket


async def _locked_levels(
    session: AsyncSession, buckets: Sequence[Bucket]
) -> tuple[dict[str, int], datetime]:
    """The buckets' levels, their rows created (full) if new and locked till commit, and
    the time they are taken at: read after the locks, since a writer that held them may
    have stored a later time than ours was when we began to wait (refilling from it twice
    would give tokens no one earned)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    rows = {}
    for bucket in sorted(buckets, key=lambda b: b.key):
        await session.execute(
            insert(RateBucket)
            .values(key=bucket.key, milli_tokens=bucket.capacity, updated_at=utcnow())
            .on_conflict_do_nothing(index_elements=["key"])
        )
        rows[bucket.key] = (
            await session.execute(
                select(RateBucket.milli_tokens, RateBucket.updated_at)
                .where(RateBucket.key == bucket.key)
                .with_for_update()
            )
        ).one()
    now = max([utcnow(), *(row.updated_at for row in rows.values())])
    levels = {
        b.key: refilled(rows[b.key].milli_tokens, b, (now - rows[b.key].updated_at).total_seconds())
        for b in buckets
    }
    return levels, now


async def _set(session: AsyncSession, key: str, level: int, now: datetime) -> None:
    await session.execute(
        update(RateBucket).where(RateBucket.key == key).values(milli_tokens=level, updated_at=now)
    )


async def take(session: AsyncSession, *, draws: Sequence[Draw]) -> tuple[Bucket, float] | None:
    """Take every draw or none (see SharedBuckets.take); a refusal writes nothing."""
    levels, now = await _locked_levels(session, [d.bucket for d in draws])
    short = [(d.bucket, shortfall_s(levels[d.bucket.key], d)) for d in draws]
    waits = [pair for pair in short if pair[1] > 0]
    if waits:
        return max(waits, key=lambda pair: pair[1])
    for draw in draws:
        await _set(session, draw.bucket.key, levels[draw.bucket.key] - draw.cost, now)
    return None


async def lower(session: AsyncSession, *, bucket: Bucket, at_most: int) -> None:
    levels, now = await _locked_levels(session, [bucket])
    if levels[bucket.key] > at_most:
        await _set(session, bucket.key, at_most, now)


async def charge(session: AsyncSession, *, bucket: Bucket, cost: int) -> None:
    levels, now = await _locked_levels(session, [bucket])
    await _set(session, bucket.key, levels[bucket.key] - cost, now)


async def levels(
    session: AsyncSession, *, buckets: Sequence[Bucket], now: datetime
) -> dict[str, int]:
    rows = await session.execute(
        select(RateBucket.key, RateBucket.milli_tokens, RateBucket.updated_at).where(
            RateBucket.key.in_([b.key for b in buckets])
        )
    )
    stored = {key: (level, at) for key, level, at in rows}
    found: dict[str, int] = {}
    for bucket in buckets:
        level, at = stored.get(bucket.key, (None, now))
        found[bucket.key] = refilled(level, bucket, (now - at).total_seconds())
    return found


class DatabaseBuckets:
    """SharedBuckets in the app database, one short write transaction per call."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def take(self, draws: Sequence[Draw]) -> tuple[Bucket, float] | None:
        if not draws:
            return None

        async def work(session: AsyncSession) -> tuple[Bucket, float] | None:
            return await take(session, draws=draws)

        refused: tuple[Bucket, float] | None = await self.db.transact(work)
        return refused

    async def lower(self, bucket: Bucket, at_most: int) -> None:
        async def work(session: AsyncSession) -> None:
            await lower(session, bucket=bucket, at_most=at_most)

        await self.db.transact(work)

    async def charge(self, bucket: Bucket, cost: int) -> None:
        async def work(session: AsyncSession) -> None:
            await charge(session, bucket=bucket, cost=cost)

        await self.db.transact(work)

    async def levels(self, buckets: Sequence[Bucket]) -> dict[str, int]:
        async with self.db.read() as session:
            return await levels(session, buckets=buckets, now=utcnow())

    async def aclose(self) -> None:
        """The database is the runtime's to close."""
