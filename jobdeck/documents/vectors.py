"""Vector stores behind one small interface: sqlite-vec files in the data folder (the
default, no server) or pgvector tables in the PostgreSQL app database (at scale).

Both score by cosine similarity (1 is the same direction). A collection's vectors live
in their own table (pgvector) or file (sqlite), made by `ensure_collection`, outside the
app's Alembic metadata: their vector length is the collection's own.
"""

from __future__ import annotations

from typing import Protocol

from jobdeck.config import Settings
from jobdeck.documents.errors import VectorStoreError
from jobdeck.documents.names import check_collection_id
from jobdeck.documents.types import Hit, StoredChunk, VectorRecord

__all__ = ["VectorStore", "VectorStoreError", "check_collection_id", "open_vector_store"]


class VectorStore(Protocol):
    async def ensure_collection(self, collection_id: str, dimensions: int) -> None:
        """Make the collection's storage if missing; a collection made with another
        vector length raises VectorStoreError."""
        ...

    async def upsert(self, records: list[VectorRecord]) -> None:
        """Idempotent by chunk_id: a record written twice is stored once (the last wins)."""
        ...

    async def delete_document(self, collection_id: str, document_id: str) -> None: ...

    async def drop_collection(self, collection_id: str) -> None:
        """Remove the collection's vectors; nothing happens for one that does not exist."""
        ...

    async def search(
        self,
        collection_id: str,
        vector: list[float],
        k: int,
        document_ids: list[str] | None = None,
    ) -> list[Hit]:
        """The k records most similar to `vector`, best first, among `document_ids` if given."""
        ...

    async def count(self, collection_id: str) -> int: ...

    async def document_chunks(
        self,
        collection_id: str,
        document_id: str,
        *,
        after: tuple[int, int, str] | None = None,
        limit: int = 500,
        vectors: bool = False,
    ) -> list[StoredChunk]:
        """One page of a document's chunks in reading order (page, start, chunk id), those
        past `after` (the last one's `StoredChunk.after`); [] when the collection has none."""
        ...

    async def aclose(self) -> None: ...


def open_vector_store(settings: Settings) -> VectorStore:
    """The configured store: settings.vector_store "sqlite" (default) or "pgvector"."""
    if settings.vector_store == "pgvector":
        from jobdeck.documents.pg_vectors import PgVectorStore

        return PgVectorStore.from_settings(settings)
    from jobdeck.documents.sqlite_vectors import SqliteVectorStore

    return SqliteVectorStore(settings.vectors_dir or settings.data_dir / "vectors")
