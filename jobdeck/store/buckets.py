"""Shared token buckets in the app database (the rate_buckets table): the API's rate
limits and the provider budgets, for every process on one database.

A bucket's row holds its level at `updated_at`; whoever draws refills it from the time
passed, under the row's lock (FOR UPDATE on PostgreSQL; SQLite's writers are serialized
by BEGIN IMMEDIATE already). Rows are locked in key order, so two draws over the same
buckets cannot deadlock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from jobdeck.clock import utcnow
from jobdeck.fairness.bucket import Bucket, refilled
from jobdeck.fairness.shared import Draw, Levels, shortfall_s
from jobdeck.store.engine import Database
from jobdeck.store.tables import RateBucket

# The statements, built once on the table's own columns and run on a Core connection:
# every rate-limited request passes here, and an ORM session costs more than they do.
_BUCKETS: Table = RateBucket.__table__  # type: ignore[assignment]
_CREATE = {
    name: dialect_insert(_BUCKETS)
    .values(key=bindparam("key"), milli_tokens=bindparam("level"), updated_at=bindparam("now"))
    .on_conflict_do_nothing(index_elements=["key"])
    for name, dialect_insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
_LOCK = (
    select(_BUCKETS.c.milli_tokens, _BUCKETS.c.updated_at)
    .where(_BUCKETS.c.key == bindparam("key"))
    .with_for_update()
)
_SET = (
    update(_BUCKETS)
    .where(_BUCKETS.c.key == bindparam("b_key"))
    .values(milli_tokens=bindparam("level"), updated_at=bindparam("now"))
)
_READ = select(_BUCKETS.c.key, _BUCKETS.c.milli_tokens, _BUCKETS.c.updated_at).where(
    _BUCKETS.c.key.in_(bindparam("keys", expanding=True))
)


async def _locked_levels(
    conn: AsyncConnection, buckets: Sequence[Bucket]
) -> tuple[dict[str, int], datetime]:
    """The buckets' levels, their rows created (full) if new and locked till commit, and
    the time they are taken at: read after the locks, since a writer that held them may
    have stored a later time than ours was when we began to wait (refilling from it twice
    would give tokens no one earned). A row that exists (the usual case) is locked by
    its read alone; a missing one is inserted (or waited for, if another draw is
    inserting it) and read again."""
    rows: dict[str, Any] = {}
    for bucket in sorted(buckets, key=lambda b: b.key):
        row = (await conn.execute(_LOCK, {"key": bucket.key})).first()
        if row is None:
            new = {"key": bucket.key, "level": bucket.capacity, "now": utcnow()}
            await conn.execute(_CREATE[conn.dialect.name], new)
            row = (await conn.execute(_LOCK, {"key": bucket.key})).one()
        rows[bucket.key] = row
    now = max([utcnow(), *(row.updated_at for row in rows.values())])
    levels = {
        b.key: refilled(rows[b.key].milli_tokens, b, (now - rows[b.key].updated_at).total_seconds())
        for b in buckets
    }
    return levels, now


async def _set(conn: AsyncConnection, levels: dict[str, int], now: datetime) -> None:
    changes = [{"b_key": key, "level": level, "now": now} for key, level in levels.items()]
    await conn.execute(_SET, changes)


async def take(conn: AsyncConnection, *, draws: Sequence[Draw]) -> Levels:
    """Take every draw or none (see SharedBuckets.take_levels); a refusal writes nothing."""
    levels, now = await _locked_levels(conn, [d.bucket for d in draws])
    short = [(d.bucket, shortfall_s(levels[d.bucket.key], d)) for d in draws]
    waits = [pair for pair in short if pair[1] > 0]
    if waits:
        return max(waits, key=lambda pair: pair[1]), {}
    after = {d.bucket.key: levels[d.bucket.key] - d.cost for d in draws}
    await _set(conn, after, now)
    return None, after


async def lower(conn: AsyncConnection, *, bucket: Bucket, at_most: int) -> None:
    levels, now = await _locked_levels(conn, [bucket])
    if levels[bucket.key] > at_most:
        await _set(conn, {bucket.key: at_most}, now)


async def charge(conn: AsyncConnection, *, bucket: Bucket, cost: int) -> None:
    levels, now = await _locked_levels(conn, [bucket])
    await _set(conn, {bucket.key: levels[bucket.key] - cost}, now)


async def levels(
    conn: AsyncConnection, *, buckets: Sequence[Bucket], now: datetime
) -> dict[str, int]:
    rows = await conn.execute(_READ, {"keys": [b.key for b in buckets]})
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
        refused, _ = await self.take_levels(draws)
        return refused

    async def take_levels(self, draws: Sequence[Draw]) -> Levels:
        if not draws:
            return None, {}

        async def work(conn: AsyncConnection) -> Levels:
            return await take(conn, draws=draws)

        return await self.db.transact_core(work)

    async def lower(self, bucket: Bucket, at_most: int) -> None:
        async def work(conn: AsyncConnection) -> None:
            await lower(conn, bucket=bucket, at_most=at_most)

        await self.db.transact_core(work)

    async def charge(self, bucket: Bucket, cost: int) -> None:
        async def work(conn: AsyncConnection) -> None:
            await charge(conn, bucket=bucket, cost=cost)

        await self.db.transact_core(work)

    async def levels(self, buckets: Sequence[Bucket]) -> dict[str, int]:
        if not buckets:
            return {}
        async with self.db.reader_engine.connect() as conn:
            return await levels(conn, buckets=buckets, now=utcnow())

    async def aclose(self) -> None:
        """The database is the runtime's to close."""
