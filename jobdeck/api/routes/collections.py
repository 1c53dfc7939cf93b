"""Document collections: upload, ingest, search (issue 13); and the item-level results of
every job that works item by item (documents, bulk targets)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from jobdeck.api.collection_schemas import (
    DEFAULT_MODELS,
    ChunkingPublic,
    CollectionCreate,
    CollectionPublic,
    CollectionsPublic,
    DocumentPublic,
    DocumentsPublic,
    EmbeddingPublic,
    IngestRequest,
    JobItemPublic,
    JobItemsPublic,
    SearchHit,
    SearchRequest,
    SearchResults,
)
from jobdeck.api.deps import CurrentUser, JobsDep, RuntimeDep
from jobdeck.api.filenames import safe_name
from jobdeck.api.quotas import check_storage, hold_storage, storage_room
from jobdeck.api.schemas import JobPublic, Problem
from jobdeck.api.uploads import FILE_FIELD, receive_upload
from jobdeck.api.views import job_public
from jobdeck.clock import utcnow
from jobdeck.dataset_files import discard
from jobdeck.documents.embedding import EmbeddingError, open_embedder
from jobdeck.documents.parsing import detect_format
from jobdeck.documents.types import DocumentError
from jobdeck.documents.vectors import open_vector_store
from jobdeck.errors import InvalidInput
from jobdeck.services.jobs import NewJob
from jobdeck.store import collections as collection_store
from jobdeck.store import items as item_store
from jobdeck.store import jobs as job_store
from jobdeck.store.items import ItemStatus
from jobdeck.store.tables import Collection, Document

# A search waits for the embedding provider's budget no longer than this: a person waits.
SEARCH_BUDGET_WAIT_S = 10.0

router = APIRouter()


def _statuses(values: list[str] | None) -> list[str]:
    wanted = [v.strip() for raw in values or [] for v in raw.split(",") if v.strip()]
    known = {s.value for s in ItemStatus}
    for value in wanted:
        if value not in known:
            raise InvalidInput(f"unknown item status {value!r}; one of: {', '.join(sorted(known))}")
    return wanted


@router.get("/api/jobs/{job_id}/items", response_model=JobItemsPublic, tags=["jobs"])
async def job_items(
    job_id: str,
    runtime: RuntimeDep,
    principal: CurrentUser,
    status_: Annotated[
        list[str] | None, Query(alias="status", description="Only items of these statuses")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=item_store.MAX_PAGE)] = item_store.DEFAULT_PAGE,
) -> JobItemsPublic:
    """A job's items in work order with each one's outcome, and the counts by status."""
    statuses = _statuses(status_)
    async with runtime.db.read() as session:
        await job_store.get_job(session, organization_id=principal.organization_id, job_id=job_id)
        rows, next_cursor = await item_store.list_items(
            session, job_id=job_id, statuses=statuses, cursor=cursor, limit=limit
        )
        counts = await item_store.count_by_status(session, job_id=job_id)
    return JobItemsPublic(
        data=[
            JobItemPublic(
                seq=r.seq,
                key=r.key,
                status=r.status,
                details=r.details,
                result=r.result,
                error=r.error,
                updated_at=r.updated_at,
            )
            for r in rows
        ],
        counts=counts,
        next_cursor=next_cursor,
    )


def _collection_public(c: Collection) -> CollectionPublic:
    return CollectionPublic(
        id=c.id,
        name=c.name,
        embedding=EmbeddingPublic(
            provider=c.embedding_provider,
            model=c.embedding_model,
            dimensions=c.embedding_dimensions,
        ),
        chunking=ChunkingPublic(max_tokens=c.chunk_max_tokens, overlap=c.chunk_overlap),
        created_at=c.created_at,
        updated_at=c.updated_at,
    )


def _document_public(d: Document) -> DocumentPublic:
    return DocumentPublic(
        id=d.id,
        collection_id=d.collection_id,
        filename=d.filename,
        size_bytes=d.size_bytes,
        sha256=d.sha256,
        format=d.format,
        status=d.status,
        pages=d.pages,
        failed_pages=d.failed_pages,
        characters=d.characters,
        tokens=d.tokens,
        chunks=d.chunks,
        error=d.error,
        job_id=d.job_id,
        created_at=d.created_at,
        updated_at=d.updated_at,
    )


@router.post(
    "/api/collections",
    status_code=status.HTTP_201_CREATED,
    response_model=CollectionPublic,
    tags=["collections"],
    responses={409: {"model": Problem, "description": "A collection of that name exists"}},
)
async def create_collection(
    body: CollectionCreate, runtime: RuntimeDep, principal: CurrentUser, response: Response
) -> CollectionPublic:
    """Create a collection: its name, embedding provider and model, and chunk sizes."""
    provider = body.embedding.provider
    async with runtime.db.write() as session:
        collection = await collection_store.insert_collection(
            session,
            collection_id=str(uuid.uuid4()),
            organization_id=principal.organization_id,
            user_id=principal.user_id,
            name=body.name,
            embedding_provider=provider,
            embedding_model=body.embedding.model or DEFAULT_MODELS[provider],
            chunk_max_tokens=body.chunking.max_tokens,
            chunk_overlap=body.chunking.overlap,
            now=utcnow(),
        )
    response.headers["Location"] = f"/api/collections/{collection.id}"
    return _collection_public(collection)


@router.get("/api/collections", response_model=CollectionsPublic, tags=["collections"])
async def list_collections(
    runtime: RuntimeDep,
    principal: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=collection_store.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> CollectionsPublic:
    """The organization's collections, newest first."""
    async with runtime.db.read() as session:
        rows, next_cursor = await collection_store.list_collections(
            session, organization_id=principal.organization_id, limit=limit, cursor=cursor
        )
    return CollectionsPublic(data=[_collection_public(c) for c in rows], next_cursor=next_cursor)


@router.get(
    "/api/collections/{collection_id}", response_model=CollectionPublic, tags=["collections"]
)
async def get_collection(
    collection_id: str, runtime: RuntimeDep, principal: CurrentUser
) -> CollectionPublic:
    """One collection."""
    async with runtime.db.read() as session:
        collection = await collection_store.get_collection(
            session, organization_id=principal.organization_id, collection_id=collection_id
        )
    return _collection_public(collection)


# The body is read as a stream (jobdeck/api/uploads.py), so FastAPI cannot see it: say it.
_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": [FILE_FIELD],
                "properties": {
                    FILE_FIELD: {
                        "type": "string",
                        "format": "binary",
                        "description": "The document: PDF, DOCX, PPTX, XLSX, HTML, Markdown "
                        "or text (JOBDECK_DATASET_MAX_UPLOAD_BYTES at most). A document of "
                        "the same name in the collection is replaced",
                    },
                },
            }
        }
    },
}


def _refusal(err: DocumentError) -> HTTPException:
    code = (
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
        if err.code == "unknown_format"
        else status.HTTP_422_UNPROCESSABLE_CONTENT
    )
    return HTTPException(code, err.reason)


@router.post(
    "/api/collections/{collection_id}/documents",
    status_code=status.HTTP_201_CREATED,
    response_model=DocumentPublic,
    tags=["collections"],
    openapi_extra={"requestBody": _UPLOAD_BODY},
    responses={
        400: {"model": Problem, "description": "Not one file in the field `file`, or malformed"},
        413: {
            "model": Problem,
            "description": "The file, or the form fields, too large; or past the storage quota",
        },
        415: {"model": Problem, "description": "Not multipart/form-data, or not a document"},
        422: {"model": Problem, "description": "Empty, or content that its name belies"},
    },
)
async def upload_document(
    collection_id: str,
    request: Request,
    runtime: RuntimeDep,
    principal: CurrentUser,
    response: Response,
) -> DocumentPublic:
    """Upload one document as multipart/form-data (field `file`); it waits, pending, for
    an ingest."""
    async with runtime.db.read() as session:
        await collection_store.get_collection(
            session, organization_id=principal.organization_id, collection_id=collection_id
        )
    storage = runtime.files
    room = await storage_room(runtime, principal.organization_id, collection_id=collection_id)
    upload = await receive_upload(request, storage, runtime.settings.dataset_max_upload_bytes, room)
    old_key: str | None = None
    try:
        filename = safe_name(upload.filename)
        if not filename or len(filename) > 255:
            raise InvalidInput("the file's name must be 1 to 255 characters, without folders")
        try:
            fmt = await asyncio.to_thread(detect_format, upload.path, filename)
        except DocumentError as err:
            raise _refusal(err) from None
        document_id = str(uuid.uuid4())
        key = f"{principal.organization_id}/collections/{collection_id}/{document_id}.{fmt}"
        await storage.put(key, upload.path)
        try:
            async with runtime.db.write() as session:
                room = await hold_storage(session, runtime.settings, principal.organization_id)
                document, old_key = await collection_store.upsert_document(
                    session,
                    document_id=document_id,
                    collection_id=collection_id,
                    organization_id=principal.organization_id,
                    filename=filename,
                    storage_key=key,
                    size_bytes=upload.size,
                    sha256=upload.sha256,
                    format=fmt,
                    now=utcnow(),
                )
                await check_storage(session, room, principal.organization_id)
        except BaseException:
            await storage.delete(key)
            raise
    finally:
        discard(upload.path)
    if old_key is not None:
        await storage.delete(old_key)
    response.headers["Location"] = f"/api/collections/{collection_id}/documents"
    return _document_public(document)


@router.get(
    "/api/collections/{collection_id}/documents",
    response_model=DocumentsPublic,
    tags=["collections"],
)
async def list_documents(
    collection_id: str,
    runtime: RuntimeDep,
    principal: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=collection_store.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> DocumentsPublic:
    """A collection's documents, newest first, each with its latest outcome."""
    async with runtime.db.read() as session:
        await collection_store.get_collection(
            session, organization_id=principal.organization_id, collection_id=collection_id
        )
        rows, next_cursor = await collection_store.list_documents(
            session, collection_id=collection_id, limit=limit, cursor=cursor
        )
    return DocumentsPublic(data=[_document_public(d) for d in rows], next_cursor=next_cursor)


@router.post(
    "/api/collections/{collection_id}/ingest",
    status_code=status.HTTP_201_CREATED,
    response_model=JobPublic,
    tags=["collections"],
)
async def ingest(
    collection_id: str,
    runtime: RuntimeDep,
    jobs: JobsDep,
    principal: CurrentUser,
    response: Response,
    body: IngestRequest | None = None,
) -> JobPublic:
    """Start a document-processing job over the collection's documents, or a dataset's rows."""
    body = body or IngestRequest()
    async with runtime.db.read() as session:
        collection = await collection_store.get_collection(
            session, organization_id=principal.organization_id, collection_id=collection_id
        )
    new = NewJob(
        type="document-processing",
        name=f"Ingest {collection.name}"[:200],
        data={
            "collectionId": collection.id,
            "documentIds": body.document_ids,
            "datasetId": body.dataset_id,
            "textColumn": body.text_column,
            "titleColumn": body.title_column,
            "allowedFailureRatio": body.allowed_failure_ratio,
            "force": body.force,
        },
    )
    job, _ = await jobs.create(principal, new)
    response.headers["Location"] = f"/api/jobs/{job.id}"
    return job_public(job, runtime.settings)


@router.post(
    "/api/collections/{collection_id}/search",
    response_model=SearchResults,
    tags=["collections"],
    responses={503: {"model": Problem, "description": "The embedding provider failed"}},
)
async def search(
    collection_id: str, body: SearchRequest, runtime: RuntimeDep, principal: CurrentUser
) -> SearchResults:
    """The k chunks closest to the query, with their document, page, offsets and score."""
    async with runtime.db.read() as session:
        collection = await collection_store.get_collection(
            session, organization_id=principal.organization_id, collection_id=collection_id
        )
    if collection.embedding_dimensions is None:
        return SearchResults(data=[])  # nothing embedded yet
    try:
        embedder = open_embedder(
            runtime.settings,
            collection.embedding_provider,
            collection.embedding_model,
            budgets=runtime.budgets.waiting_at_most(SEARCH_BUDGET_WAIT_S),
        )
        try:
            [vector] = await embedder.embed([body.query])
        finally:
            await embedder.aclose()
    except EmbeddingError as err:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(err)) from None
    store = open_vector_store(runtime.settings)
    try:
        hits = await store.search(collection.id, vector, body.k, body.document_ids)
    finally:
        await store.aclose()
    # A hit's vector keeps the name it was embedded under; a dataset row's document is
    # renamed, not embedded again, when its title changes: the name is the document's own.
    async with runtime.db.read() as session:
        names = await collection_store.document_names(
            session, collection_id=collection.id, document_ids=[h.document_id for h in hits]
        )
    return SearchResults(
        data=[
            SearchHit(
                chunk_id=h.chunk_id,
                document_id=h.document_id,
                filename=names.get(h.document_id, h.metadata.get("filename")),
                page=h.page,
                start=h.start,
                end=h.end,
                score=h.score,
                text=h.text,
            )
            for h in hits
        ]
    )
