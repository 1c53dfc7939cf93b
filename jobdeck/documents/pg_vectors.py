"""Vectors in PostgreSQL with pgvector, in the app database: one table per collection
(`jobdeck_vectors_<id>`, its vector length the collection's), HNSW-indexed for cosine.

The tables are made here at `ensure_collection`, not by Alembic: their column type
depends on each collection. Search is exact (a scan) while a collection holds fewer than
`exact_below` vectors, where a scan is fast anyway; past that it walks the HNSW index
with `hnsw.ef_search` raised to k or more, and pgvector's iterative scan when a document
filter could leave the index short of k hits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import asyncpg

from jobdeck.config import Settings
from jobdeck.documents.errors import VectorStoreError
from jobdeck.documents.names import check_collection_id
from jobdeck.documents.types import Hit, StoredChunk, VectorRecord

TABLE_PREFIX = "jobdeck_vectors_"
_MAX_EF_SEARCH = 1000  # pgvector's own ceiling


def table_name(collection_id: str) -> str:
    """A valid, unique, lower-case identifier for the collection's table."""
    check_collection_id(collection_id)
    safe = "".join(char if char.isalnum() else "_" for char in collection_id.lower())[:30]
    digest = hashlib.sha1(collection_id.encode()).hexdigest()[:8]  # "Ab" and "ab" differ
    return f"{TABLE_PREFIX}{safe}_{digest}"


def asyncpg_dsn(url: str) -> str:
    """An SQLAlchemy URL (postgresql+asyncpg://...) as asyncpg wants it."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.startswith("postgresql"):
        raise VectorStoreError("the pgvector store needs a PostgreSQL database_url")
    return f"postgresql://{rest}"


def _literal(vector: list[float]) -> str:
    return "[" + ",".join(repr(float(value)) for value in vector) + "]"


def _lost(connection: Any) -> bool:
    """Whether the server closed a pooled connection: the pool takes back one it saw die,
    and its proxy then answers nothing, not even is_closed()."""
    try:
        return bool(connection.is_closed())
    except asyncpg.InterfaceError:
        return True


class ConnectionLost(Exception):
    """The server closed the store's connection mid-operation (a restart, a failover, an
    administrator): asyncpg then raises whatever the connection's state was, an
    InterfaceError or an InternalClientError as often as ConnectionDoesNotExistError."""

    sqlstate = "08006"  # connection_failure: an outage to wait out (store.engine.is_outage)


class PgVectorStore:
    def __init__(self, dsn: str, *, exact_below: int = 20_000, pool_size: int = 4) -> None:
        self.dsn = dsn
        self.exact_below = exact_below
        self._iterative: bool | None = None  # pgvector's iterative scans, once known
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._dimensions: dict[str, int] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> PgVectorStore:
        return cls(asyncpg_dsn(settings.database_url))

    async def _get_pool(self) -> Any:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=self.pool_size)
        return self._pool

    @asynccontextmanager
    async def _using(self) -> AsyncIterator[Any]:
        """A pooled connection; a table dropped by another process since this one learnt
        of it reads as "no vectors yet", and the cache of lengths is forgotten."""
        pool = await self._get_pool()
        async with pool.acquire() as connection:
            try:
                yield connection
            except asyncpg.UndefinedTableError as error:
                self._dimensions.clear()
                raise VectorStoreError(f"a collection has no vectors yet: {error}") from error
            except Exception as error:
                if _lost(connection):
                    lost = f"the connection to PostgreSQL was lost: {error}"
                    raise ConnectionLost(lost) from error
                raise

    async def _stored_dimensions(self, connection: Any, collection_id: str) -> int | None:
        if collection_id in self._dimensions:
            return self._dimensions[collection_id]
        found = await connection.fetchval(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass($1) "
            "AND attname = 'embedding'",
            table_name(collection_id),
        )
        if found is not None:
            self._dimensions[collection_id] = int(found)
        return None if found is None else int(found)

    async def _require(self, connection: Any, collection_id: str, length: int | None) -> int:
        stored = await self._stored_dimensions(connection, collection_id)
        if stored is None:
            raise VectorStoreError(f"collection {collection_id!r} has no vectors yet")
        if length is not None and length != stored:
            raise _mismatch(collection_id, stored, length)
        return stored

    async def ensure_collection(self, collection_id: str, dimensions: int) -> None:
        if dimensions < 1:
            raise VectorStoreError("a collection's vectors need at least one dimension")
        table = table_name(collection_id)
        pool = await self._get_pool()
        async with pool.acquire() as connection:
            stored = await self._stored_dimensions(connection, collection_id)
            if stored is not None:
                if stored != dimensions:
                    raise _mismatch(collection_id, stored, dimensions)
                return
            try:
                await connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except asyncpg.PostgresError as error:
                raise VectorStoreError(
                    "the pgvector extension is not available in this PostgreSQL "
                    f"(CREATE EXTENSION vector failed: {error}); install pgvector or use "
                    "vector_store=sqlite"
                ) from error
            async with connection.transaction():
                # Two workers may make the same collection at once: one waits for the other.
                await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", table)
                await connection.execute(
                    f"CREATE TABLE IF NOT EXISTS {table} ("
                    "chunk_id text PRIMARY KEY, document_id text NOT NULL, page integer NOT NULL, "
                    "start_char integer NOT NULL, end_char integer NOT NULL, text text NOT NULL, "
                    f"metadata jsonb NOT NULL, embedding vector({dimensions}) NOT NULL)"
                )
                await connection.execute(
                    f"CREATE INDEX IF NOT EXISTS {table}_document ON {table} (document_id)"
                )
                await connection.execute(
                    f"CREATE INDEX IF NOT EXISTS {table}_hnsw ON {table} "
                    "USING hnsw (embedding vector_cosine_ops)"
                )
            self._dimensions.pop(collection_id, None)
            await self._require(connection, collection_id, dimensions)

    async def upsert(self, records: list[VectorRecord]) -> None:
        if not records:
            return
        async with self._using() as connection, connection.transaction():
            for collection_id in dict.fromkeys(record.collection_id for record in records):
                batch = [record for record in records if record.collection_id == collection_id]
                stored = await self._require(connection, collection_id, None)
                for record in batch:
                    if len(record.vector) != stored:
                        raise _mismatch(collection_id, stored, len(record.vector))
                table = table_name(collection_id)
                await connection.executemany(
                    f"INSERT INTO {table} (chunk_id, document_id, page, start_char, end_char, "
                    "text, metadata, embedding) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, "
                    "$8::vector) ON CONFLICT (chunk_id) DO UPDATE SET "
                    "document_id = excluded.document_id, page = excluded.page, "
                    "start_char = excluded.start_char, end_char = excluded.end_char, "
                    "text = excluded.text, metadata = excluded.metadata, "
                    "embedding = excluded.embedding",
                    [
                        (
                            record.chunk_id,
                            record.document_id,
                            record.page,
                            record.start,
                            record.end,
                            record.text,
                            json.dumps(record.metadata),
                            _literal(record.vector),
                        )
                        for record in batch
                    ],
                )

    async def delete_document(self, collection_id: str, document_id: str) -> None:
        with suppress(VectorStoreError):  # no table: nothing to delete
            async with self._using() as connection:
                if await self._stored_dimensions(connection, collection_id) is None:
                    return
                await connection.execute(
                    f"DELETE FROM {table_name(collection_id)} WHERE document_id = $1", document_id
                )

    async def _iterative_scans(self, connection: Any) -> bool:
        """Whether the server's pgvector has iterative index scans (0.8.0 and later)."""
        if self._iterative is None:
            version = await connection.fetchval(
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
            )
            parts = tuple(int(p) for p in str(version or "0").split(".")[:2] if p.isdigit())
            self._iterative = parts >= (0, 8)
        return self._iterative

    async def drop_collection(self, collection_id: str) -> None:
        pool = await self._get_pool()
        async with pool.acquire() as connection:
            await connection.execute(f"DROP TABLE IF EXISTS {table_name(collection_id)}")
        self._dimensions.pop(collection_id, None)

    async def search(
        self,
        collection_id: str,
        vector: list[float],
        k: int,
        document_ids: list[str] | None = None,
    ) -> list[Hit]:
        if k < 1 or document_ids == []:
            return []
        table = table_name(collection_id)
        async with self._using() as connection, connection.transaction():
            await self._require(connection, collection_id, len(vector))
            size = await connection.fetchval(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass($1)", table
            )
            filtered = document_ids is not None
            iterative = filtered and await self._iterative_scans(connection)
            if size is None or size < 0 or size < self.exact_below or (filtered and not iterative):
                # Exact: small collections, and a document filter on a pgvector too old to
                # go on walking the index until k hits pass it (the index alone could
                # return fewer than k).
                await connection.execute("SET LOCAL enable_indexscan = off")
            else:
                ef_search = min(_MAX_EF_SEARCH, max(40, 2 * k))
                await connection.execute(f"SET LOCAL hnsw.ef_search = {ef_search}")
                if iterative:
                    await connection.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            where, args = "", [_literal(vector), k]
            if document_ids is not None:
                where, args = "WHERE document_id = ANY($3::text[])", [*args, document_ids]
            rows = await connection.fetch(
                "SELECT chunk_id, document_id, page, start_char, end_char, text, metadata::text, "
                f"embedding <=> $1::vector AS distance FROM {table} {where} "
                "ORDER BY distance LIMIT $2",
                *args,
            )
        hits = [
            Hit(
                chunk_id=row["chunk_id"],
                document_id=row["document_id"],
                page=row["page"],
                start=row["start_char"],
                end=row["end_char"],
                text=row["text"],
                metadata=json.loads(row["metadata"]),
                score=1.0 - float(row["distance"]),
            )
            for row in rows
        ]
        # Relaxed iterative scans may return near-ties out of order.
        return sorted(hits, key=lambda hit: (-hit.score, hit.chunk_id))

    async def count(self, collection_id: str) -> int:
        with suppress(VectorStoreError):  # no table: no vectors
            async with self._using() as connection:
                if await self._stored_dimensions(connection, collection_id) is None:
                    return 0
                table = table_name(collection_id)
                return int(await connection.fetchval(f"SELECT count(*) FROM {table}"))
        return 0

    async def document_chunks(
        self,
        collection_id: str,
        document_id: str,
        *,
        after: tuple[int, int, str] | None = None,
        limit: int = 500,
        vectors: bool = False,
    ) -> list[StoredChunk]:
        if limit < 1:
            return []
        with suppress(VectorStoreError):  # no table: no chunks
            async with self._using() as connection:
                if await self._stored_dimensions(connection, collection_id) is None:
                    return []
                where, args = "document_id = $1", [document_id, limit]
                if after is not None:
                    where += " AND (page, start_char, chunk_id) > ($3, $4, $5)"
                    args += after
                embedding = "embedding::text" if vectors else "NULL::text"
                rows = await connection.fetch(
                    "SELECT chunk_id, document_id, page, start_char, end_char, text, "
                    f"metadata::text, {embedding} AS embedding FROM {table_name(collection_id)} "
                    f"WHERE {where} ORDER BY page, start_char, chunk_id LIMIT $2",
                    *args,
                )
                return [
                    StoredChunk(
                        chunk_id=row["chunk_id"],
                        document_id=row["document_id"],
                        page=row["page"],
                        start=row["start_char"],
                        end=row["end_char"],
                        text=row["text"],
                        metadata=json.loads(row["metadata"]),
                        vector=None
                        if row["embedding"] is None
                        else [float(v) for v in json.loads(row["embedding"])],
                    )
                    for row in rows
                ]
        return []

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def _mismatch(collection_id: str, stored: int, given: int) -> VectorStoreError:
    return VectorStoreError(
        f"collection {collection_id!r} holds {stored}-dimensional vectors, not {given}"
    )
