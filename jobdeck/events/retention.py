"""Pruning of old job events and job log lines, by JOBDECK_EVENT_RETENTION_DAYS, and of
ended jobs whole (their rows and all their history) past their organization's job
history retention (JOBDECK_QUOTA_JOB_HISTORY_DAYS, or its admin's own; none by default),
with the files of their pipeline runs' stored step outputs that no run holds any more
(which then no longer count toward the storage quota). Any API process may run it:
deleting what another already deleted is a no-op."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from jobdeck.config import Settings
from jobdeck.dataset_files import open_storage
from jobdeck.fairness.quotas import JOB_HISTORY_DAYS
from jobdeck.store import events as event_store
from jobdeck.store import logs as log_store
from jobdeck.store import quotas as quota_store
from jobdeck.store.engine import Database

logger = logging.getLogger(__name__)

EVERY_S = 3600.0
BATCH = 10_000
HISTORY_BATCH = 500  # jobs, each with its events, logs and items


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


async def prune_job_history(
    db: Database, settings: Settings, *, now: datetime | None = None
) -> int:
    """Delete the ended jobs of each organization older than its job history retention;
    returns how many. A batch per transaction, so no lock is held for long."""
    async with db.read() as session:
        expiring = await quota_store.retention_days(
            session, name=JOB_HISTORY_DAYS, default=settings.quota_job_history_days
        )
    files = open_storage(settings)
    total = 0
    for organization_id, days in expiring:
        before = (now or datetime.now(UTC)) - timedelta(days=days)
        while True:
            released: list[str] = []
            async with db.write() as session:
                deleted = await quota_store.prune_job_history(
                    session,
                    organization_id=organization_id,
                    before=before,
                    limit=HISTORY_BATCH,
                    released=released,
                )
            # Once the rows are gone (committed): a file whose deletion fails is only
            # left over, no longer counted and read by no run.
            for key in released:
                try:
                    await files.delete(key)
                except OSError:
                    logger.warning("could not delete a stored step output", extra={"key": key})
            total += deleted
            if deleted < HISTORY_BATCH:
                break
    if total:
        logger.info("pruned ended jobs past their history retention", extra={"deleted": total})
    return total


async def prune_forever(db: Database, settings: Settings) -> None:
    while True:
        try:
            await prune_once(db, retention_days=settings.event_retention_days)
            await prune_job_history(db, settings)
        except Exception:
            logger.exception("pruning job events failed")
        await asyncio.sleep(EVERY_S)
