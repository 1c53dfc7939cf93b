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
