"""A collection's chunks as JSON Lines, streamed: documents a page at a time from the app
database, each document's chunks a page at a time from the vector store, so memory holds
one page whatever the collection's size."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from jobdeck.api.deps import CurrentUser, RuntimeDep
from jobdeck.api.filenames import content_disposition
from jobdeck.documents.types import StoredChunk
from jobdeck.documents.vectors import open_vector_store
from jobdeck.runtime import Runtime
from jobdeck.store import collections as collection_store
from jobdeck.store.tables import Document

router = APIRouter()

DOCUMENTS_PER_PAGE = 200
CHUNKS_PER_PAGE = 500


def _line(document: Document, position: int, chunk: StoredChunk, vectors: bool) -> bytes:
    row: dict[str, Any] = {
        "collectionId": document.collection_id,
        "documentId": document.id,
        "filename": document.filename,
        "chunkId": chunk.chunk_id,
        "position": position,
        "page": chunk.page,
        "start": chunk.start,
        "end": chunk.end,
        "section": chunk.metadata.get("section"),
        "tokens": chunk.metadata.get("tokens"),
        "text": chunk.text,
    }
    if vectors:
        row["embedding"] = chunk.vector
    return (json.dumps(row, ensure_ascii=False) + "\n").encode()


async def _lines(runtime: Runtime, collection_id: str, vectors: bool) -> AsyncIterator[bytes]:
    store = open_vector_store(runtime.settings)
    try:
        cursor: str | None = None
        while True:
            # A short read per page: no session is held while the client reads.
            async with runtime.db.read() as session:
                documents, cursor = await collection_store.list_documents(
                    session, collection_id=collection_id, limit=DOCUMENTS_PER_PAGE, cursor=cursor
                )
            for document in documents:
                if not document.chunks:
                    continue  # never processed, or nothing to index
                position, after = 0, None
                while True:
                    page = await store.document_chunks(
                        collection_id,
                        document.id,
                        after=after,
                        limit=CHUNKS_PER_PAGE,
                        vectors=vectors,
                    )
                    for chunk in page:
                        yield _line(document, position, chunk, vectors)
                        position += 1
                    if len(page) < CHUNKS_PER_PAGE:
                        break
                    after = page[-1].after
            if cursor is None:
                break
    finally:
        await store.aclose()


@router.get(
    "/api/collections/{collection_id}/chunks",
    tags=["collections"],
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/x-ndjson": {}},
            "description": "One JSON object a line: collectionId, documentId, filename, "
            "chunkId, position (in its document), page, start, end, section, tokens, text, "
            "and embedding with ?vectors=true",
        }
    },
)
async def export_chunks(
    collection_id: str,
    runtime: RuntimeDep,
    principal: CurrentUser,
    format: Annotated[Literal["jsonl"], Query(description="jsonl (JSON Lines)")] = "jsonl",
    vectors: Annotated[bool, Query(description="Add each chunk's embedding")] = False,
) -> StreamingResponse:
    """Every chunk of the collection as JSON Lines, document by document in reading order."""
    async with runtime.db.read() as session:
        collection = await collection_store.get_collection(
            session, organization_id=principal.organization_id, collection_id=collection_id
        )
    return StreamingResponse(
        _lines(runtime, collection.id, vectors),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": content_disposition(f"{collection.name}.chunks.{format}")},
    )
