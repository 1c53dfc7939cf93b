"""Vectors in SQLite files with the sqlite-vec extension: one file per collection under
the vectors folder, so that dropping a collection is deleting a file and collections
never wait on each other's writes.

The stdlib sqlite3 here cannot load extensions (Python built without it), so the files
are opened with apsw, which bundles its own SQLite and can. Search is exact: sqlite-vec's
SIMD cosine distance over every stored vector (or those of the chosen documents); apsw
calls run in a thread so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import apsw
import numpy as np
import sqlite_vec

from jobdeck.documents.errors import VectorStoreError
from jobdeck.documents.names import check_collection_id
from jobdeck.documents.types import Hit, StoredChunk, VectorRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY,
    document_id TEXT NOT NULL,
    embedding BLOB NOT NULL,  -- float32, little-endian; before `text` so a scan skips text
    page INTEGER NOT NULL,
    start_char INTEGER NOT NULL,
    end_char INTEGER NOT NULL,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks (document_id);
"""
_UPSERT = """
INSERT INTO chunks (chunk_id, document_id, embedding, page, start_char, end_char, text, metadata)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (chunk_id) DO UPDATE SET
    document_id = excluded.document_id, embedding = excluded.embedding, page = excluded.page,
    start_char = excluded.start_char, end_char = excluded.end_char, text = excluded.text,
    metadata = excluded.metadata
"""


class _Collection:
    def __init__(self, connection: apsw.Connection, dimensions: int) -> None:
        self.connection = connection
        self.dimensions = dimensions
        self.lock = threading.Lock()


class SqliteVectorStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._open: dict[str, _Collection] = {}
        self._lock = threading.Lock()

    def _path(self, collection_id: str) -> Path:
        return self.root / f"{check_collection_id(collection_id)}.sqlite"

    @staticmethod
    def _connect(path: Path) -> apsw.Connection:
        connection = apsw.Connection(str(path))
        connection.set_busy_timeout(10_000)  # the API reads while a worker writes
        connection.enable_load_extension(True)
        connection.load_extension(sqlite_vec.loadable_path())
        connection.enable_load_extension(False)
        return connection

    def _collection(self, collection_id: str, create_with: int | None = None) -> _Collection:
        with self._lock:
            found = self._open.get(collection_id)
            if found is not None:
                if create_with is not None and create_with != found.dimensions:
                    raise _mismatch(collection_id, found.dimensions, create_with)
                return found
            path = self._path(collection_id)
            if create_with is None and not path.exists():
                raise VectorStoreError(f"collection {collection_id!r} has no vectors yet")
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = self._connect(path)
            connection.execute("PRAGMA journal_mode = WAL")  # outside a transaction, or no-op
            with connection:
                connection.execute(_SCHEMA)
                row = connection.execute(
                    "SELECT value FROM meta WHERE key = 'dimensions'"
                ).fetchone()
                if row is None:
                    if create_with is None:
                        raise VectorStoreError(f"collection {collection_id!r} has no vectors yet")
                    connection.execute(
                        "INSERT INTO meta (key, value) VALUES ('dimensions', ?)",
                        (str(create_with),),
                    )
                    dimensions = create_with
                else:
                    dimensions = int(row[0])
            if create_with is not None and create_with != dimensions:
                connection.close()
                raise _mismatch(collection_id, dimensions, create_with)
            self._open[collection_id] = found = _Collection(connection, dimensions)
            return found

    async def ensure_collection(self, collection_id: str, dimensions: int) -> None:
        if dimensions < 1:
            raise VectorStoreError("a collection's vectors need at least one dimension")
        await asyncio.to_thread(self._collection, collection_id, dimensions)

    def _upsert(self, records: list[VectorRecord]) -> None:
        by_collection: dict[str, list[VectorRecord]] = defaultdict(list)
        for record in records:
            by_collection[record.collection_id].append(record)
        for collection_id, batch in by_collection.items():
            collection = self._collection(collection_id)
            rows = []
            for record in batch:
                if len(record.vector) != collection.dimensions:
                    raise _mismatch(collection_id, collection.dimensions, len(record.vector))
                rows.append(
                    (
                        record.chunk_id,
                        record.document_id,
                        np.asarray(record.vector, dtype="<f4").tobytes(),
                        record.page,
                        record.start,
                        record.end,
                        record.text,
                        json.dumps(record.metadata),
                    )
                )
            with collection.lock, collection.connection:
                collection.connection.executemany(_UPSERT, rows)

    async def upsert(self, records: list[VectorRecord]) -> None:
        if records:
            await asyncio.to_thread(self._upsert, records)

    def _execute(self, collection_id: str, sql: str, args: tuple[Any, ...]) -> list[Any]:
        collection = self._collection(collection_id)
        with collection.lock, collection.connection:
            rows = list(collection.connection.execute(sql, args))
        return rows

    async def delete_document(self, collection_id: str, document_id: str) -> None:
        if self._path(collection_id).exists():
            await asyncio.to_thread(
                self._execute,
                collection_id,
                "DELETE FROM chunks WHERE document_id = ?",
                (document_id,),
            )

    def _drop(self, collection_id: str) -> None:
        path = self._path(collection_id)
        with self._lock:
            found = self._open.pop(collection_id, None)
            if found is not None:
                with found.lock:
                    found.connection.close()
            for suffix in ("", "-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)

    async def drop_collection(self, collection_id: str) -> None:
        await asyncio.to_thread(self._drop, collection_id)

    async def search(
        self,
        collection_id: str,
        vector: list[float],
        k: int,
        document_ids: list[str] | None = None,
    ) -> list[Hit]:
        if k < 1 or document_ids == []:
            return []
        collection = await asyncio.to_thread(self._collection, collection_id)
        if len(vector) != collection.dimensions:
            raise _mismatch(collection_id, collection.dimensions, len(vector))
        query = np.asarray(vector, dtype="<f4").tobytes()
        where, args = "", list[Any]([query])
        if document_ids is not None:
            where = f"WHERE document_id IN ({', '.join('?' * len(document_ids))})"
            args += document_ids
        sql = (
            "SELECT chunk_id, document_id, page, start_char, end_char, text, metadata, distance "
            "FROM (SELECT rowid AS id, vec_distance_cosine(embedding, ?) AS distance FROM chunks "
            f"{where} ORDER BY distance LIMIT ?) AS best JOIN chunks ON chunks.rowid = best.id "
            "ORDER BY distance, chunk_id"
        )
        rows = await asyncio.to_thread(self._execute, collection_id, sql, (*args, k))
        return [
            Hit(
                chunk_id=row[0],
                document_id=row[1],
                page=row[2],
                start=row[3],
                end=row[4],
                text=row[5],
                metadata=json.loads(row[6]),
                score=1.0 - float(row[7]),
            )
            for row in rows
        ]

    async def count(self, collection_id: str) -> int:
        if not self._path(collection_id).exists():
            return 0
        rows = await asyncio.to_thread(
            self._execute, collection_id, "SELECT count(*) FROM chunks", ()
        )
        return int(rows[0][0])

    async def document_chunks(
        self,
        collection_id: str,
        document_id: str,
        *,
        after: tuple[int, int, str] | None = None,
        limit: int = 500,
        vectors: bool = False,
    ) -> list[StoredChunk]:
        if limit < 1 or not self._path(collection_id).exists():
            return []
        where, args = "document_id = ?", list[Any]([document_id])
        if after is not None:
            where += " AND (page, start_char, chunk_id) > (?, ?, ?)"
            args += after
        embedding = "embedding" if vectors else "NULL"
        sql = (
            "SELECT chunk_id, document_id, page, start_char, end_char, text, metadata, "
            f"{embedding} FROM chunks WHERE {where} "
            "ORDER BY page, start_char, chunk_id LIMIT ?"
        )
        rows = await asyncio.to_thread(self._execute, collection_id, sql, (*args, limit))
        return [
            StoredChunk(
                chunk_id=row[0],
                document_id=row[1],
                page=row[2],
                start=row[3],
                end=row[4],
                text=row[5],
                metadata=json.loads(row[6]),
                vector=None if row[7] is None else np.frombuffer(row[7], "<f4").tolist(),
            )
            for row in rows
        ]

    async def aclose(self) -> None:
        with self._lock:
            for collection in self._open.values():
                with collection.lock:
                    collection.connection.close()
            self._open.clear()


def _mismatch(collection_id: str, stored: int, given: int) -> VectorStoreError:
    return VectorStoreError(
        f"collection {collection_id!r} holds {stored}-dimensional vectors, not {given}"
    )
