"""Keyset paging, the one way the store pages a list: newest first on (created_at, id),
with an opaque cursor naming the last row of the page before, so a deep page costs what
the first does and rows added meanwhile neither repeat nor shift a page."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, and_, inspect, or_
from sqlalchemy.ext.asyncio import AsyncSession

from jobdeck.errors import InvalidInput

MAX_PAGE = 200
DEFAULT_PAGE = 50

FOREIGN_CURSOR = "cursor is not one this API gave out; pass the nextCursor of a previous page"


class Keyed(Protocol):
    """A row of a table with `created_at` and `id` columns."""

    @property
    def created_at(self) -> datetime: ...

    @property
    def id(self) -> str: ...


RowT = TypeVar("RowT", bound=Keyed)


def encode_cursor(row: Keyed) -> str:
    raw = json.dumps([row.created_at.isoformat(), row.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) a cursor names; InvalidInput for anything this API did not
    give out (the store compares only aware datetimes and string ids)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, row_id = json.loads(raw)
        when = datetime.fromisoformat(created)
    except (ValueError, TypeError, binascii.Error) as err:  # JSON and UTF-8 errors too
        raise InvalidInput(FOREIGN_CURSOR) from err
    if when.tzinfo is None or not isinstance(row_id, str):
        raise InvalidInput(FOREIGN_CURSOR)
    return when, row_id


async def keyset_page(
    session: AsyncSession,
    stmt: Select[RowT],
    table: type[RowT],
    *,
    limit: int = DEFAULT_PAGE,
    cursor: str | None = None,
) -> tuple[list[RowT], str | None]:
    """One page of `stmt` (a select of `table`'s rows, filtered as the caller likes):
    the rows after `cursor`, newest first, at most `limit` (clamped to 1..MAX_PAGE),
    and the cursor of the next page, None on the last."""
    columns: Any = inspect(table).columns
    created_at, row_id = columns["created_at"], columns["id"]
    if cursor:
        after_created, after_id = decode_cursor(cursor)
        stmt = stmt.where(
            or_(
                created_at < after_created,
                and_(created_at == after_created, row_id < after_id),
            )
        )
    limit = max(1, min(limit, MAX_PAGE))
    stmt = stmt.order_by(created_at.desc(), row_id.desc()).limit(limit + 1)
    rows = list((await session.execute(stmt)).scalars())
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


# Sorted lists (the jobs list's ?sort=): the same keyset, led by one more key. Every key
# goes the same way (all ascending or all descending), so one index on (key, created_at,
# id) serves both directions, and equal keys fall back to (created_at, id), which is
# unique: no row repeats or is skipped between pages.
_CURSOR_SORTS = "cursor belongs to another sort order; start again from the first page"


def encode_sorted_cursor(sort: str, value: Any, row: Keyed) -> str:
    raw = json.dumps([sort, value, row.created_at.isoformat(), row.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_sorted_cursor(cursor: str, sort: str) -> tuple[Any, datetime, str]:
    """The (key, created_at, id) a sorted cursor names; InvalidInput for a cursor of another
    sort order or one this API did not give out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = json.loads(raw)
        if not isinstance(decoded, list) or len(decoded) != 4:
            raise ValueError(cursor)
        name, value, created, row_id = decoded
        when = datetime.fromisoformat(created)
    except (ValueError, TypeError, binascii.Error) as err:
        raise InvalidInput(FOREIGN_CURSOR) from err
    if name != sort:
        raise InvalidInput(_CURSOR_SORTS)
    if when.tzinfo is None or not isinstance(row_id, str) or isinstance(value, (list, dict)):
        raise InvalidInput(FOREIGN_CURSOR)
    return value, when, row_id


async def sorted_page(
    session: AsyncSession,
    stmt: Select[RowT],
    table: type[RowT],
    *,
    sort: str,
    key: Any,
    descending: bool,
    limit: int = DEFAULT_PAGE,
    cursor: str | None = None,
) -> tuple[list[RowT], str | None]:
    """One page of `stmt` ordered by (`key`, created_at, id), all descending or all
    ascending; `sort` names the order in its cursors. `key` None orders by (created_at,
    id) alone."""
    columns: Any = inspect(table).columns
    created_at, row_id = columns["created_at"], columns["id"]
    keys = [created_at, row_id] if key is None else [key, created_at, row_id]
    if cursor:
        if key is None:
            after: list[Any] = [*decode_sorted_cursor(cursor, sort)[1:]]
        else:
            after = [*decode_sorted_cursor(cursor, sort)]
        stmt = stmt.where(_after(keys, after, descending))
    limit = max(1, min(limit, MAX_PAGE))
    order = [k.desc() if descending else k.asc() for k in keys]
    labelled = stmt.add_columns(key.label("sort_key")) if key is not None else stmt
    result = (await session.execute(labelled.order_by(*order).limit(limit + 1))).all()
    rows = [r[0] for r in result]
    next_cursor = None
    if len(rows) > limit:
        last = result[limit - 1]
        next_cursor = encode_sorted_cursor(sort, last[1] if key is not None else None, last[0])
    return rows[:limit], next_cursor


def _after(keys: list[Any], values: list[Any], descending: bool) -> Any:
    """Rows past `values` in the order of `keys`: (k1 < v1) or (k1 = v1 and k2 < v2) ..."""
    clauses = []
    for i, (k, v) in enumerate(zip(keys, values, strict=True)):
        past = k < v if descending else k > v
        clauses.append(and_(*(keys[j] == values[j] for j in range(i)), past))
    return or_(*clauses)
