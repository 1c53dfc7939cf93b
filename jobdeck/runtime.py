"""The long-lived clients a worker or an API process opens once and shares: settings, the
database, Temporal, dataset file storage, and the HTTP or SDK clients that activities open
on first use (closed with the runtime)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from temporalio.client import Client

from jobdeck import tracing
from jobdeck.config import Settings
from jobdeck.dataset_files import DatasetStorage, open_storage
from jobdeck.fairness.redis_buckets import RedisBuckets
from jobdeck.fairness.shared import SharedBuckets
from jobdeck.providers.budgets import ProviderBudgets
from jobdeck.store.buckets import DatabaseBuckets
from jobdeck.store.engine import Database
from jobdeck.temporal import connect


def open_shared_buckets(settings: Settings, db: Database) -> SharedBuckets:
    """The token buckets every process shares: Redis when JOBDECK_REDIS_URL is set, else
    the app database."""
    if settings.redis_url:
        return RedisBuckets(settings.redis_url)
    return DatabaseBuckets(db)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    temporal: Client
    files: DatasetStorage
    # The token buckets every process shares (API rate limits, provider budgets): in the
    # database, or in Redis when JOBDECK_REDIS_URL is set.
    buckets: SharedBuckets
    # What every provider client of this process spends from (jobdeck/providers).
    budgets: ProviderBudgets
    # Clients that activities open (HTTP, provider SDKs), closed with the runtime.
    closers: list[Callable[[], Awaitable[object]]] = field(default_factory=list)

    @classmethod
    def of(cls, settings: Settings, db: Database, temporal: Client) -> Runtime:
        buckets = open_shared_buckets(settings, db)
        return cls(
            settings=settings,
            db=db,
            temporal=temporal,
            files=open_storage(settings),
            buckets=buckets,
            budgets=ProviderBudgets(settings, buckets),
            closers=[buckets.aclose],
        )

    async def aclose(self) -> None:
        for close in reversed(self.closers):
            await close()
        self.closers.clear()


@asynccontextmanager
async def open_runtime(
    settings: Settings, *, temporal: Client | None = None, for_api: bool = False
) -> AsyncIterator[Runtime]:
    """The clients a worker or an API process holds for its whole life."""
    db = Database.connect(settings.database_url)
    tracing.instrument_database(db)  # with tracing on: a span per SQL statement
    try:
        client = temporal or await connect(settings, for_api=for_api)
        runtime = Runtime.of(settings, db, client)
        try:
            yield runtime
        finally:
            await runtime.aclose()
    finally:
        await db.dispose()
