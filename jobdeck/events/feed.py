"""The live feed of one API process: its hub, its tailer and the retention pruner, started
with the app and stopped with it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from jobdeck.config import Settings
from jobdeck.events.hub import Hub
from jobdeck.events.retention import prune_forever
from jobdeck.events.tailer import Tailer
from jobdeck.store.engine import Database


@dataclass
class LiveFeed:
    hub: Hub
    tailer: Tailer


@asynccontextmanager
async def running_feed(db: Database, settings: Settings) -> AsyncIterator[LiveFeed]:
    hub = Hub(queue_size=settings.ws_queue_size)
    tailer = Tailer(db, hub, sqlite_interval_s=settings.sqlite_tail_interval_s)
    await tailer.start_position()
    tasks = [
        asyncio.create_task(tailer.run(), name="jobdeck-tailer"),
        asyncio.create_task(
            prune_forever(db, settings),
            name="jobdeck-retention",
        ),
    ]
    try:
        yield LiveFeed(hub=hub, tailer=tailer)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
