"""The tailer: one per API process, it reads new job events in id order and publishes them
to the hub. It is woken by PostgreSQL's LISTEN/NOTIFY, or on SQLite by a change of the
database files (a stat every few milliseconds, no query); a slow fallback read covers a
lost notification. With nobody subscribed it idles: no stat and no read per commit, only
a move past the newest event every SKIP_AHEAD_S, until the first subscribe wakes it."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from jobdeck.events.hub import FeedEvent, Hub
from jobdeck.store import events as event_store
from jobdeck.store.engine import Database

logger = logging.getLogger(__name__)

# Small batches, with a yield between them, so that senders drain their queues while a
# burst is being published instead of seeing it land all at once.
BATCH = 100
FALLBACK_S = 1.0
# With no subscriber, the position moves on this often (see Tailer._idle, _skip_ahead).
SKIP_AHEAD_S = 0.25


class _SqliteWatch:
    """Returns when the database or its WAL changed since the last call."""

    def __init__(self, path: Path, interval_s: float) -> None:
        self.paths = [path, path.with_name(path.name + "-wal")]
        self.interval_s = interval_s
        self.seen = self._signature()

    def _signature(self) -> tuple[tuple[int, int], ...]:
        sig = []
        for path in self.paths:
            try:
                st = os.stat(path)
                sig.append((st.st_mtime_ns, st.st_size))
            except FileNotFoundError:
                sig.append((0, 0))
        return tuple(sig)

    async def wait(self, woken: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FALLBACK_S
        while loop.time() < deadline and not woken.is_set():
            sig = self._signature()
            if sig != self.seen:
                self.seen = sig
                return
            # A plain sleep: waiting on the event with a timeout costs a task per tick.
            await asyncio.sleep(self.interval_s)

    async def close(self) -> None:
        pass


class _PostgresListen:
    """Returns on a NOTIFY from a committing writer (or after the fallback interval)."""

    def __init__(self, url: str) -> None:
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.notified = asyncio.Event()
        self.conn: asyncpg.Connection | None = None

    def _on_notify(self, *_args: object) -> None:
        self.notified.set()

    async def _ensure_connected(self) -> None:
        if self.conn is not None and not self.conn.is_closed():
            return
        try:
            self.conn = await asyncpg.connect(self.dsn)
            await self.conn.add_listener(event_store.NOTIFY_CHANNEL, self._on_notify)
        except (OSError, asyncpg.PostgresError) as err:
            self.conn = None
            logger.warning("cannot LISTEN for job events; polling", extra={"error": str(err)})
        # Anything committed while we were not listening is read right away.
        self.notified.set()

    async def wait(self, woken: asyncio.Event) -> None:
        await self._ensure_connected()
        waits = [asyncio.ensure_future(self.notified.wait()), asyncio.ensure_future(woken.wait())]
        try:
            await asyncio.wait(waits, timeout=FALLBACK_S, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        self.notified.clear()

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


class Tailer:
    def __init__(self, db: Database, hub: Hub, *, sqlite_interval_s: float = 0.005) -> None:
        self.db = db
        self.hub = hub
        self._woken = asyncio.Event()
        if db.is_sqlite:
            database = make_url(db.url).database or ""
            self._watch: _SqliteWatch | _PostgresListen = _SqliteWatch(
                Path(database), sqlite_interval_s
            )
        else:
            self._watch = _PostgresListen(db.url)

    def wake(self) -> None:
        """Read now (this process wrote an event)."""
        self._woken.set()

    async def start_position(self) -> None:
        async with self.db.read() as session:
            _, newest = await event_store.event_bounds(session)
        self.hub.last_id = newest

    async def drain(self) -> int:
        """Publish everything committed since the last read; returns how many."""
        # With none, run() calls this at most every SKIP_AHEAD_S (see _idle).
        if not self.hub.subscribers and await self._skip_ahead():
            return 0
        count = 0
        while True:
            async with self.db.read() as session:
                events = await event_store.events_after(
                    session, after=self.hub.last_id, limit=BATCH
                )
            for event in events:
                self.hub.publish(FeedEvent.of(event))
            count += len(events)
            await asyncio.sleep(0)
            if len(events) < BATCH:
                return count

    async def _skip_ahead(self) -> bool:
        """With no subscriber, nothing needs the events themselves: move past them with
        one max(id) instead of reading them all. A subscriber that comes later reads the
        table after this snapshot, so misses nothing; one that came while the query ran
        may have read it before, so then (False) the events are read as usual."""
        async with self.db.read() as session:
            newest = await event_store.newest_event_id(session)
        if self.hub.subscribers:
            return False
        self.hub.last_id = max(self.hub.last_id, newest)
        return True

    async def _idle(self) -> None:
        """With no subscriber, wait for the first one (or SKIP_AHEAD_S, for drain to move
        the position on) instead of watching every commit: nothing would read what the
        watch finds. The position it left is where the first subscriber is served from,
        so a subscriber gets at most SKIP_AHEAD_S of backlog and misses nothing."""
        self.hub.subscribed.clear()
        if self.hub.subscribers:
            return
        try:
            await asyncio.wait_for(self.hub.subscribed.wait(), SKIP_AHEAD_S)
        except TimeoutError:
            pass

    async def run(self) -> None:
        try:
            while True:
                if self.hub.subscribers:
                    await self._watch.wait(self._woken)
                else:
                    await self._idle()
                self._woken.clear()
                try:
                    await self.drain()
                except Exception:
                    logger.exception("reading job events failed; retrying")
                    await asyncio.sleep(FALLBACK_S)
        finally:
            await self._watch.close()
