"""A collection's chunks as JSON Lines, streamed: documents a page at a time from the app
database, each document's chunks a page at a time from the vector store, so memory holds
one page whatever the collection's size. Downloaded as they are read, or kept as a dataset
of the organization (with the collection as its lineage) that conversions and fine-tunes
can take like any other."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import StreamingResponse
from pydantic import Field

from jobdeck.api.dataset_schemas import DatasetPublic
from jobdeck.api.deps import CurrentUser, RuntimeDep
from jobdeck.api.filenames import content_disposition, safe_name
from jobdeck.api.schemas import Problem, Schema
from jobdeck.api.text import StorableText
from jobdeck.api.views import dataset_public
from jobdeck.clock import utcnow
from jobdeck.dataformats import DatasetFormat
from jobdeck.dataset_files import storage_key
from jobdeck.documents.types import StoredChunk
from jobdeck.documents.vectors import open_vector_store
from jobdeck.errors import Conflict
from jobdeck.runtime import Runtime
from jobdeck.store import collections as collection_store
from jobdeck.store import datasets as dataset_store
from jobdeck.store.tables import Document

router = APIRouter()

DOCUMENTS_PER_PAGE = 200
CHUNKS_PER_PAGE = 500
WRITE_BYTES = 256 * 1024  # lines gathered before each write to the dataset's file
COLUMNS = [
    "collectionId",
    "documentId",
    "filename",
    "chunkId",
    "position",
    "page",
    "start",
    "end",
    "section",
    "tokens",
    "text",
]


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


class ChunksDatasetCreate(Schema, StorableText):
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="The dataset's name; default: the collection's, with .chunks.jsonl",
    )
    vectors: bool = Field(default=False, description="Keep each chunk's embedding too")


@router.post(
    "/api/collections/{collection_id}/chunks/dataset",
    status_code=status.HTTP_201_CREATED,
    response_model=DatasetPublic,
    tags=["collections"],
    responses={
        404: {"model": Problem, "description": "No such collection in your organization"},
        409: {"model": Problem, "description": "The collection has no chunk yet"},
    },
)
async def chunks_to_dataset(
    collection_id: str,
    body: ChunksDatasetCreate,
    runtime: RuntimeDep,
    principal: CurrentUser,
    response: Response,
) -> DatasetPublic:
    """Keep the collection's chunks as a JSON Lines dataset (the columns of the export),
    with the collection as its lineage: the text reused by conversions and fine-tunes."""
    async with runtime.db.read() as session:
        collection = await collection_store.get_collection(
            session, organization_id=principal.organization_id, collection_id=collection_id
        )
    storage = runtime.files
    scratch = storage.scratch(".jsonl")
    try:
        rows, size, sha256 = await _write(scratch, _lines(runtime, collection.id, body.vectors))
        if rows == 0:
            raise Conflict(
                f"collection {collection.name!r} has no chunk yet: ingest its documents first"
            )
        name = safe_name(body.name) if body.name else f"{collection.name}.chunks.jsonl"
        dataset_id = str(uuid.uuid4())
        key = storage_key(principal.organization_id, dataset_id, DatasetFormat.JSONL)
        await storage.put(key, scratch)
        try:
            async with runtime.db.write() as session:
                dataset = await dataset_store.insert_dataset(
                    session,
                    dataset_id=dataset_id,
                    organization_id=principal.organization_id,
                    user_id=principal.user_id,
                    name=name[:255] or f"{collection.id}.chunks.jsonl",
                    format=DatasetFormat.JSONL.value,
                    size_bytes=size,
                    sha256=sha256,
                    storage_key=key,
                    now=utcnow(),
                    row_count=rows,
                    source_collection_id=collection.id,
                    details={"columns": COLUMNS + (["embedding"] if body.vectors else [])},
                )
        except BaseException:
            await storage.delete(key)
            raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(scratch.unlink)
    response.headers["Location"] = f"/api/datasets/{dataset.id}"
    return dataset_public(dataset)


async def _write(path: Path, lines: AsyncIterator[bytes]) -> tuple[int, int, str]:
    """Write the lines to `path`; their count, the bytes and the SHA-256."""
    digest = hashlib.sha256()
    rows = size = 0
    pending: list[bytes] = []
    held = 0
    handle = await asyncio.to_thread(path.open, "wb")
    try:
        async for line in lines:
            pending.append(line)
            held += len(line)
            rows += 1
            if held >= WRITE_BYTES:
                block = b"".join(pending)
                digest.update(block)
                size += len(block)
                await asyncio.to_thread(handle.write, block)
                pending, held = [], 0
        block = b"".join(pending)
        digest.update(block)
        size += len(block)
        await asyncio.to_thread(handle.write, block)
    finally:
        await asyncio.to_thread(handle.close)
    return rows, size, digest.hexdigest()
