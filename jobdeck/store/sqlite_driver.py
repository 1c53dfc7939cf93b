"""SQLite through aiosqlite with one trip to the driver's thread per statement.

aiosqlite runs each sqlite3 call on a thread of its own and hands the result back to the
event loop; SQLAlchemy's adapter makes four such calls per statement (open a cursor,
execute, fetch, close). Each trip is a queue put, a thread wake-up and a loop wake-up:
a job's progress report, four statements in a transaction, cost 16 of them, about 3.5 ms
of CPU. This dialect runs a statement's execute, fetch and close as one call on that
thread, and is otherwise SQLAlchemy's own aiosqlite dialect: same URL options, same
pool, same error translation. `engine.py` uses it for every `sqlite+aiosqlite` URL.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.util import EMPTY_DICT

DRIVER_NAME = "sqlite.jobdeck_aiosqlite"  # as registered; URLs say sqlite+jobdeck_aiosqlite


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose statement runs, is fetched and is closed in one call on the
    connection's thread; it keeps what the statement left (rows, description, counts)."""

    __slots__ = ("_description", "_rowcount", "_lastrowid")

    def __init__(self, adapt_connection: Any) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]  # one sqlite3 cursor per statement
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    async def _async_soft_close(self) -> None:
        return None

    def close(self) -> None:
        self._rows.clear()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        sqlite_conn = self._connection

        def run() -> tuple[Any, int, int | None, list[Any] | None]:
            cursor = sqlite_conn._conn.cursor()
            try:
                cursor.execute(operation, () if parameters is None else parameters)
                rows = cursor.fetchall() if cursor.description else None
                return cursor.description, cursor.rowcount, cursor.lastrowid, rows
            finally:
                cursor.close()

        async with self._adapt_connection._execute_mutex:
            description, rowcount, lastrowid, rows = await sqlite_conn._execute(run)
        self._description, self._rowcount, self._lastrowid = description, rowcount, lastrowid
        self._rows = collections.deque(rows or ())
        return None

    async def _executemany_async(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        sqlite_conn = self._connection

        def run() -> tuple[int, int | None]:
            cursor = sqlite_conn._conn.cursor()
            try:
                cursor.executemany(operation, seq_of_parameters)
                return cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        async with self._adapt_connection._execute_mutex:
            self._rowcount, self._lastrowid = await sqlite_conn._execute(run)
        self._description = None
        self._rows.clear()
        return None

    def nextset(self) -> None:
        return None

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None


class _Connection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = _OneTripCursor


class _DBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> _Connection:
        adapted = super().connect(*arg, **kw)
        return _Connection(self, adapted._connection)


class JobdeckAiosqliteDialect(SQLiteDialect_aiosqlite):
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> _DBAPI:
        return _DBAPI(__import__("aiosqlite"), __import__("sqlite3"))


registry.register(DRIVER_NAME, __name__, "JobdeckAiosqliteDialect")


def with_one_trip_driver(url: Any) -> Any:
    """The same SQLite URL on this dialect (other URLs as they are)."""
    if url.get_backend_name() == "sqlite" and url.get_driver_name() == "aiosqlite":
        return url.set(drivername="sqlite+jobdeck_aiosqlite")
    return url
