"""Engines and sessions. SQLite gets WAL, a busy timeout and write transactions that take
the write lock up front, because the API and the worker write the same file at once."""

from __future__ import annotations

import asyncio
import collections
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import redis.exceptions
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_only

from jobdeck.store.sqlite_driver import with_one_trip_driver

SQLITE_BUSY_TIMEOUT_MS = 15_000
T = TypeVar("T")

# PostgreSQL's SQLSTATEs of a server that cannot serve now (it will again): connection
# exceptions, operator intervention (shutdown, starting up), insufficient resources.
_OUTAGE_SQLSTATE_CLASSES = ("08", "57P", "53")
_OUTAGE_WORDS = (
    "not currently accepting connections",  # ALTER DATABASE ... ALLOW_CONNECTIONS false
    "database is locked",  # SQLite, past its busy timeout
    "disk i/o error",
    "unable to open database file",
)


_DATABASE_MODULES = ("sqlalchemy.", "asyncpg.", "aiosqlite.")
_REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def _from_database(err: BaseException) -> bool:
    """Whether an OS-level error was raised inside the database drivers (a refused or
    dropped connection), not by some other client (a provider's timeout is not ours)."""
    return any(
        str(frame.f_globals.get("__name__", "")).startswith(_DATABASE_MODULES)
        for frame, _ in traceback.walk_tb(err.__traceback__)
    )


def is_outage(err: BaseException) -> bool:
    """Whether an error means the database (or Redis, where it keeps the shared buckets)
    cannot be reached or cannot serve right now, rather than that the statement itself is
    wrong: the former passes, the latter does not.
    """
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionError | TimeoutError) and _from_database(current):
            return True
        if isinstance(current, _REDIS_DOWN):  # the shared buckets' store, when configured
            return True
        # The SQLSTATE of the driver's error, under SQLAlchemy's or alone (asyncpg used
        # directly by the pgvector store: a dropped connection is 08003).
        driver_error = current.orig if isinstance(current, DBAPIError) else current
        state = str(getattr(driver_error, "sqlstate", "") or "")
        if state.startswith(_OUTAGE_SQLSTATE_CLASSES):
            return True
        if isinstance(current, DBAPIError):
            if current.connection_invalidated:
                return True
            text = str(current.orig).lower()
            if any(words in text for words in _OUTAGE_WORDS):
                return True
        current = current.__cause__ or current.__context__
    return False


def _on_sqlite_connect(*, immediate: bool) -> Any:
    # A writer's BEGIN IMMEDIATE waits in _begin_immediate, not in SQLite's busy handler.
    busy_timeout_ms = 0 if immediate else SQLITE_BUSY_TIMEOUT_MS

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (see below).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return on_connect


def _make_engine(url: str, *, immediate: bool) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    if parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        with_one_trip_driver(parsed), connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    )
    event.listen(engine.sync_engine, "connect", _on_sqlite_connect(immediate=immediate))

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        # A deferred transaction that reads and then writes can fail with SQLITE_BUSY
        # without waiting; taking the lock at BEGIN makes writers queue for it.
        if immediate:
            _begin_immediate(conn)
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


# Between processes (the API and a worker), a writer waits for SQLite's write lock. SQLite's
# own busy handler sleeps 1, 2, 5 ... 50, 100 ms between tries, so a writer that misses a
# few times behind a busy worker waits 100 ms or more after the lock was free (a create's
# p99 under load). Trying again every few milliseconds instead keeps the wait near the
# time the lock was held: 186 -> 61 ms p99 against two writers at 100 commits/s each
# (a standalone check on a loaded machine, load ~5).
_LOCK_FIRST_WAIT_S = 0.0005
_LOCK_MAX_WAIT_S = 0.004


def _begin_immediate(conn: Any) -> None:
    """BEGIN IMMEDIATE, tried again until SQLITE_BUSY_TIMEOUT_MS has passed (the writer
    connections' own busy timeout is 0: each try answers at once). The last try goes
    through SQLAlchemy, so that a lock never freed, or any other error, fails as its usual
    DBAPIError (a lock or a disk error is an outage, see is_outage)."""
    dbapi_conn = conn.connection.dbapi_connection
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    wait = _LOCK_FIRST_WAIT_S
    while time.monotonic() < deadline:
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
            return
        except Exception as err:
            if "database is locked" not in str(err):
                break  # tried once more through SQLAlchemy, which names the error its way
        finally:
            cursor.close()
        # In SQLAlchemy's greenlet: the event loop runs others meanwhile.
        await_only(asyncio.sleep(wait))
        wait = min(wait * 1.5, _LOCK_MAX_WAIT_S)
    conn.exec_driver_sql("BEGIN IMMEDIATE")


# Urgent writes in a row, while others wait, before one of the others goes.
BOOKKEEPING_EVERY = 4


class WriteLock:
    """The one SQLite writer of a process, taken in turn by its write transactions.

    Those on a job's way to starting (`urgent`: its create, its first step, its pickup) go
    ahead of the rest (progress, endings, logs), and among them the organizations take
    turns, as they do in Temporal's task queues (fairness keys): while one organization's
    flood of new jobs takes its first steps, another's new job waits for one of them, not
    for all of them and every other job's bookkeeping besides (bench/fairness.py).

    Ahead, but not for ever: after BOOKKEEPING_EVERY urgent turns in a row while the rest
    wait, the oldest of the rest gets one. Without that, a flood's first steps held every
    other job's progress and ending back for as long as the flood lasted (bench/fairness.py
    --org-limit 20: another organization's finished steps were recorded 7 s late)."""

    def __init__(self) -> None:
        self._locked = False
        self._urgent_in_a_row = 0
        # By organization, in turn order: the first line is served next, then goes last.
        self._urgent: dict[str | None, collections.deque[asyncio.Future[None]]] = {}
        self._normal: collections.deque[asyncio.Future[None]] = collections.deque()

    @asynccontextmanager
    async def held(
        self, *, urgent: bool = False, organization: str | None = None
    ) -> AsyncIterator[None]:
        await self._acquire(urgent, organization)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, urgent: bool, organization: str | None) -> None:
        if not self._locked and not self._urgent and not self._normal:
            self._locked = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        line = self._urgent.setdefault(organization, collections.deque()) if urgent else None
        (line if line is not None else self._normal).append(turn)
        try:
            await turn  # handed over by _release, still locked
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # given the lock, then cancelled: hand it on
            elif line is not None:
                if turn in line:
                    line.remove(turn)
                if not line and self._urgent.get(organization) is line:
                    del self._urgent[organization]
            elif turn in self._normal:
                self._normal.remove(turn)
            raise

    def _release(self) -> None:
        if self._normal and self._urgent_in_a_row >= BOOKKEEPING_EVERY:
            handed = self._hand_to_normal() or self._hand_to_urgent()
        else:
            handed = self._hand_to_urgent() or self._hand_to_normal()
        if not handed:
            self._locked = False

    def _hand_to_urgent(self) -> bool:
        while self._urgent:
            organization = next(iter(self._urgent))
            line = self._urgent.pop(organization)
            turn = line.popleft()
            if line:
                self._urgent[organization] = line  # its next one waits for the others' turns
            if not turn.done():
                self._urgent_in_a_row = self._urgent_in_a_row + 1 if self._normal else 0
                turn.set_result(None)
                return True
        return False

    def _hand_to_normal(self) -> bool:
        while self._normal:
            turn = self._normal.popleft()
            if not turn.done():
                self._urgent_in_a_row = 0
                turn.set_result(None)
                return True
        return False


@dataclass
class Database:
    """The app database: a reader for queries and a writer for changes (the same engine
    except on SQLite, where writes must serialise and reads must not wait for them)."""

    url: str
    reader_engine: AsyncEngine
    writer_engine: AsyncEngine

    @classmethod
    def connect(cls, url: str) -> Database:
        reader = _make_engine(url, immediate=False)
        writer = _make_engine(url, immediate=True) if url.startswith("sqlite") else reader
        return cls(url=url, reader_engine=reader, writer_engine=writer)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._reader() as session:
            yield session

    @asynccontextmanager
    async def write(
        self, *, urgent: bool = False, organization: str | None = None
    ) -> AsyncIterator[AsyncSession]:
        """A session in one transaction, committed on success, rolled back on error.
        `urgent`: on a job's way to starting, of `organization` (see WriteLock)."""
        if self._write_lock is None:
            async with self._writer() as session, session.begin():
                yield session
            return
        # Writers of one process queue here rather than at SQLite's lock, and are woken the
        # moment the previous one commits.
        async with (
            self._write_lock.held(urgent=urgent, organization=organization),
            self._writer() as session,
            session.begin(),
        ):
            yield session

    async def transact(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `work` in one write transaction that cancelling the caller cannot cut short.

        Activities are cancelled by raising into whatever they await; a transaction torn
        at that point can leave SQLite's write lock held. Shielded, it commits or rolls
        back first, and the cancellation reaches the caller right after."""

        async def run() -> T:
            async with self.write() as session:
                return await work(session)

        return await asyncio.shield(run())

    @asynccontextmanager
    async def write_core(
        self, *, urgent: bool = False, organization: str | None = None
    ) -> AsyncIterator[AsyncConnection]:
        """`write` as a Core connection: for a hot path of prebuilt statements, which
        needs no ORM session (its setup, unit of work and close cost more CPU than the
        statements themselves)."""
        if self._write_lock is None:
            async with self.writer_engine.begin() as conn:
                yield conn
            return
        async with (
            self._write_lock.held(urgent=urgent, organization=organization),
            self.writer_engine.begin() as conn,
        ):
            yield conn

    async def transact_core(
        self,
        work: Callable[[AsyncConnection], Awaitable[T]],
        *,
        urgent: bool = False,
        organization: str | None = None,
    ) -> T:
        """`transact` on a Core connection (see write_core), shielded the same way."""

        async def run() -> T:
            async with self.write_core(urgent=urgent, organization=organization) as conn:
                return await work(conn)

        return await asyncio.shield(run())

    async def dispose(self) -> None:
        await self.reader_engine.dispose()
        if self.writer_engine is not self.reader_engine:
            await self.writer_engine.dispose()

    def __post_init__(self) -> None:
        self._reader = async_sessionmaker(self.reader_engine, expire_on_commit=False)
        self._writer = async_sessionmaker(self.writer_engine, expire_on_commit=False)
        self._write_lock = WriteLock() if self.is_sqlite else None
