"""Closing the live feeds of a revoked API key.

A WebSocket is authenticated once, when it opens; a key revoked (or deleted) later must not
go on streaming. Every `interval` seconds one query per API process finds which of the keys
behind its open sockets are no longer valid, and those sockets are told to close (4401).
Idle when no socket is open; one query however many sockets share a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from jobdeck.store import accounts
from jobdeck.store.engine import Database

logger = logging.getLogger(__name__)

CHECK_INTERVAL_S = 2.0
_BATCH = 500  # keys per query


class KeyWatch:
    def __init__(self, db: Database, interval: float = CHECK_INTERVAL_S) -> None:
        self.db = db
        self.interval = interval
        self._watchers: dict[str, set[asyncio.Event]] = {}

    def watch(self, key_id: str) -> asyncio.Event:
        """An event set once `key_id` is revoked or gone; `unwatch` it when done."""
        revoked = asyncio.Event()
        self._watchers.setdefault(key_id, set()).add(revoked)
        return revoked

    def unwatch(self, key_id: str, revoked: asyncio.Event) -> None:
        watchers = self._watchers.get(key_id)
        if watchers is not None:
            watchers.discard(revoked)
            if not watchers:
                del self._watchers[key_id]

    async def check(self) -> None:
        """One pass: tell the watchers of every key that is no longer valid."""
        keys = list(self._watchers)
        for start in range(0, len(keys), _BATCH):
            batch = keys[start : start + _BATCH]
            async with self.db.read() as session:
                valid = await accounts.valid_key_ids(session, batch)
            for key_id in set(batch) - valid:
                for revoked in self._watchers.pop(key_id, set()):
                    revoked.set()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:  # the database is away: keep the sockets, try again
                logger.warning("could not check the API keys of open feeds", exc_info=True)


@asynccontextmanager
async def running_key_watch(
    db: Database, interval: float = CHECK_INTERVAL_S
) -> AsyncIterator[KeyWatch]:
    watch = KeyWatch(db, interval)
    task = asyncio.create_task(watch.run(), name="jobdeck-key-watch")
    try:
        yield watch
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
