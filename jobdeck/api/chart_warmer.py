"""Keeping the operator's charts counted ahead of the first look.

A chart's sealed buckets are counted once, on the first view that asks for them
(store/rollups.py); the first view of a week after a quiet spell would count the whole
week. So each API process counts the sealed buckets of the organizations that created
jobs in the last week: shortly after it starts, then every `interval` seconds, each pass
counting only the buckets sealed since the last (several processes may count the same
bucket at once; one row is kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from jobdeck.clock import utcnow
from jobdeck.store import operations
from jobdeck.store.engine import Database

logger = logging.getLogger(__name__)

WARM_INTERVAL_S = 300.0
FIRST_PASS_AFTER_S = 1.0


async def _run(db: Database, interval: float) -> None:
    await asyncio.sleep(FIRST_PASS_AFTER_S)
    while True:
        try:
            await operations.warm(db, now=utcnow())
        except Exception:  # the database is away: the charts count on their first view
            logger.warning("could not count the charts' sealed buckets", exc_info=True)
        await asyncio.sleep(interval)


@asynccontextmanager
async def running_chart_warmer(
    db: Database, interval: float = WARM_INTERVAL_S
) -> AsyncIterator[None]:
    task = asyncio.create_task(_run(db, interval), name="jobdeck-chart-warmer")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
