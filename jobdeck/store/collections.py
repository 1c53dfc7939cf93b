"""The only door to the collections and documents tables. Another organization's
collection is reported exactly like a missing one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from jobdeck.errors import Conflict, NotFound
from jobdeck.store import pages
from jobdeck.store.tables import Collection, Document

MAX_PAGE = pages.MAX_PAGE


async def insert_collection(
    session: AsyncSession,
    *,
    collection_id: str,
    organization_id: str,
    user_id: str,
    name: str,
    embedding_provider: str,
    embedding_model: str,
    chunk_max_tokens: int,
    chunk_overlap: int,
    now: datetime,
) -> Collection:
    """Add a collection; Conflict when the organization has one of that name."""
    taken = await session.execute(
        select(Collection.id).where(
            Collection.organization_id == organization_id, Collection.name == name
        )
    )
    if taken.first() is not None:
        raise Conflict(f"a collection named {name!r} exists already; pick another name")
    collection = Collection(
        id=collection_id,
        organization_id=organization_id,
        user_id=user_id,
        name=name,
        embedding_provider=embedding_provider,
        embedding_model=embedding_model,
        embedding_dimensions=None,
        chunk_max_tokens=chunk_max_tokens,
        chunk_overlap=chunk_overlap,
        created_at=now,
        updated_at=now,
    )
    session.add(collection)
    try:
        await session.flush()
    except IntegrityError as err:  # a concurrent create of the same name
        raise Conflict(f"a collection named {name!r} exists already; pick another name") from err
    return collection


async def get_collection(
    session: AsyncSession, *, organization_id: str, collection_id: str
) -> Collection:
    collection = await session.get(Collection, collection_id, populate_existing=True)
    if collection is None or collection.organization_id != organization_id:
        raise NotFound(f"collection {collection_id} not found")
    return collection


async def list_collections(
    session: AsyncSession, *, organization_id: str, limit: int, cursor: str | None
) -> tuple[list[Collection], str | None]:
    stmt = select(Collection).where(Collection.organization_id == organization_id)
    return await pages.keyset_page(session, stmt, Collection, limit=limit, cursor=cursor)


async def upsert_document(
    session: AsyncSession,
    *,
    document_id: str,
    collection_id: str,
    organization_id: str,
    filename: str,
    storage_key: str,
    size_bytes: int,
    sha256: str,
    format: str,
    now: datetime,
) -> tuple[Document, str | None]:
    """Add a document, or give a same-named one the new content (its old file's key is
    returned, for the caller to delete once this commits). A new content is pending again;
    the same content keeps its outcome."""
    found = await session.execute(
        select(Document).where(
            Document.collection_id == collection_id, Document.filename == filename
        )
    )
    existing = found.scalar_one_or_none()
    if existing is not None:
        old_key = existing.storage_key
        if existing.sha256 != sha256:
            existing.status = "pending"
        existing.storage_key = storage_key
        existing.size_bytes = size_bytes
        existing.sha256 = sha256
        existing.format = format
        existing.updated_at = now
        await session.flush()
        return existing, old_key
    document = Document(
        id=document_id,
        collection_id=collection_id,
        organization_id=organization_id,
        filename=filename,
        storage_key=storage_key,
        size_bytes=size_bytes,
        sha256=sha256,
        format=format,
        status="pending",
        created_at=now,
        updated_at=now,
    )
    session.add(document)
    await session.flush()
    return document, None


async def list_documents(
    session: AsyncSession, *, collection_id: str, limit: int, cursor: str | None
) -> tuple[list[Document], str | None]:
    stmt = select(Document).where(Document.collection_id == collection_id)
    return await pages.keyset_page(session, stmt, Document, limit=limit, cursor=cursor)
