"""Alembic environment: runs migrations on the async engine of the configured URL."""

from __future__ import annotations

import asyncio
import re
import warnings
from collections.abc import Callable

from alembic import context
from sqlalchemy import Index
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from jobdeck.store.tables import Base

config = context.config
target_metadata = Base.metadata
# pgvector's tables are made at run time, one per collection (jobdeck/documents/pg_vectors.py):
# they are not the migrations' to create or drop.
_RUNTIME_TABLE_PREFIX = "jobdeck_vectors_"


def _managed(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    return not (type_ == "table" and reflected and (name or "").startswith(_RUNTIME_TABLE_PREFIX))


def _managed_on(dialect: str) -> Callable[[object, str | None, str, bool, object], bool]:
    """`_managed`, less the indexes made on another database alone (tables.postgresql_only)."""

    def include(
        obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
    ) -> bool:
        if isinstance(obj, Index) and obj.info.get("dialect", dialect) != dialect:
            return False
        return _managed(obj, name, type_, reflected, compare_to)

    return include


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=_managed_on(connection.dialect.name),
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction(), warnings.catch_warnings():
        # Alembic cannot reflect SQLite's expression indexes and says so, even for those
        # `include` leaves out: those are PostgreSQL's alone, nothing to compare here.
        for name in _other_databases_indexes(connection.dialect.name):
            skipping = f"autogenerate skipping metadata-specified expression-based index '{name}'"
            warnings.filterwarnings("ignore", re.escape(skipping))
        context.run_migrations()


def _other_databases_indexes(dialect: str) -> list[str]:
    return [
        str(index.name)
        for table in target_metadata.tables.values()
        for index in table.indexes
        if index.info.get("dialect", dialect) != dialect
    ]


async def _run_async() -> None:
    engine = create_async_engine(config.get_main_option("sqlalchemy.url") or "")
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
