"""Pruning of old job events and job log lines (never job rows), by
JOBDECK_EVENT_RETENTION_DAYS. Any API
process may run it: deleting what another already deleted is a no-op."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from jobdeck.store import events as event_store
from jobdeck.store import logs as log_store
from jobdeck.store.engine import Database

logger = logging.getLogger(__name__)

EVERY_S = 3600.0
BATCH = 10_000


async def prune_once(db: Database, *, retention_days: float, now: datetime | None = None) -> int:
    """Delete job events and job log lines older than the retention; returns the events."""
    before = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    events = await _in_batches(db, event_store.prune_events, before, "job events")
    await _in_batches(db, log_store.prune_lines, before, "job log lines")
    return events


async def _in_batches(
    db: Database, prune: Callable[..., Awaitable[int]], before: datetime, what: str
) -> int:
    """Prune BATCH rows per transaction, so no lock is held for long."""
    total = 0
    while True:
        async with db.write() as session:
            deleted = await prune(session, before=before, limit=BATCH)
        total += deleted
        if deleted < BATCH:
            break
    if total:
        logger.info(f"pruned {what}", extra={"deleted": total, "before": before.isoformat()})
    return total


async def prune_forever(db: Database, *, retention_days: float) -> None:
    while True:
        try:
            await prune_once(db, retention_days=retention_days)
        except Exception:
            logger.exception("pruning job events failed")
        await asyncio.sleep(EVERY_S)
