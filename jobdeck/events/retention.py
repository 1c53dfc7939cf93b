"""Pruning of old job events and job log lines (never job rows), by
JOBDECK_EVENT_RETENTION_DAYS. Any API
process may run it: deleting what another already deleted is a no-op."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from jobdeck.store import events as event_store
from jobdeck.store import logs as log_store
from jobdeck.store.engine import Database

logger = logging.getLogger(__name__)

EVERY_S = 3600.0
BATCH = 10_000


async def prune_once(db: Database, *, retention_days: float, now: datetime | None = None) -> int:
    before = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    total = 0
    while True:
        async with db.write() as session:
            deleted = await event_store.prune_events(session, before=before, limit=BATCH)
        total += deleted
        if deleted < BATCH:
            break
    if total:
        logger.info("pruned job events", extra={"deleted": total, "before": before.isoformat()})
    lines = 0
    while True:
        async with db.write() as session:
            deleted = await log_store.prune_lines(session, before=before, limit=BATCH)
        lines += deleted
        if deleted < BATCH:
            break
    if lines:
        logger.info("pruned job log lines", extra={"deleted": lines, "before": before.isoformat()})
    return total


async def prune_forever(db: Database, *, retention_days: float) -> None:
    while True:
        try:
            await prune_once(db, retention_days=retention_days)
        except Exception:
            logger.exception("pruning job events failed")
        await asyncio.sleep(EVERY_S)
