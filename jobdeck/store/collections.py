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
    existing = await _named(session, collection_id, filename)
    if existing is not None:
        return await _refill(session, existing, storage_key, size_bytes, sha256, format, now)
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


class NameTaken(Conflict):
    """A dataset row's document cannot take its name: another document of the collection
    has it. `kept_key` is the storage key the row's own document keeps (None when it has
    none), which the caller must not delete."""

    def __init__(self, message: str, *, kept_key: str | None) -> None:
        super().__init__(message)
        self.kept_key = kept_key


async def upsert_row_document(
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
    """A dataset row's document, found by its id first: the same row ingested again is
    the same document, renamed when its title changed (the name is not what identifies
    it). Else a same-named document takes the row (a newer upload of the same-named
    dataset keeps its documents' ids), else a new one is added. Content is refilled as in
    `upsert_document`: a changed title alone keeps the document's outcome. NameTaken when
    the name is another document's: the caller reports the row, nothing is changed."""
    own = await session.get(Document, document_id, populate_existing=True)
    named = await _named(session, collection_id, filename)
    if own is not None and own.collection_id != collection_id:
        raise NameTaken(
            f"document id {document_id} belongs to another collection", kept_key=None
        )  # a derived id that collides: never expected, but never to be overwritten
    if own is None:
        if named is not None:
            return await _refill(session, named, storage_key, size_bytes, sha256, format, now)
        return await upsert_document(
            session,
            document_id=document_id,
            collection_id=collection_id,
            organization_id=organization_id,
            filename=filename,
            storage_key=storage_key,
            size_bytes=size_bytes,
            sha256=sha256,
            format=format,
            now=now,
        )
    if named is not None and named.id != own.id:
        raise NameTaken(
            f"its document {own.id} cannot be renamed to {filename!r}: another document of "
            f"the collection ({named.id}) has that name; rename or delete that one and "
            "ingest the dataset again",
            kept_key=own.storage_key,
        )
    own.filename = filename
    return await _refill(session, own, storage_key, size_bytes, sha256, format, now)


async def _named(session: AsyncSession, collection_id: str, filename: str) -> Document | None:
    found = await session.execute(
        select(Document).where(
            Document.collection_id == collection_id, Document.filename == filename
        )
    )
    return found.scalar_one_or_none()


async def _refill(
    session: AsyncSession,
    document: Document,
    storage_key: str,
    size_bytes: int,
    sha256: str,
    format: str,
    now: datetime,
) -> tuple[Document, str | None]:
    """Give a document new content; its old file's key is returned. New content is pending
    again (its vectors are redone); the same content keeps its outcome and fingerprint."""
    old_key = document.storage_key
    if document.sha256 != sha256:
        document.status = "pending"
    document.storage_key = storage_key
    document.size_bytes = size_bytes
    document.sha256 = sha256
    document.format = format
    document.updated_at = now
    await session.flush()
    return document, old_key


async def document_names(
    session: AsyncSession, *, collection_id: str, document_ids: list[str]
) -> dict[str, str]:
    """The current names of these documents of the collection (a search hit's vector keeps
    the name it was embedded under; a dataset row's document may have been renamed since)."""
    if not document_ids:
        return {}
    rows = await session.execute(
        select(Document.id, Document.filename).where(
            Document.collection_id == collection_id, Document.id.in_(set(document_ids))
        )
    )
    return {i: name for i, name in rows.all()}


async def list_documents(
    session: AsyncSession, *, collection_id: str, limit: int, cursor: str | None
) -> tuple[list[Document], str | None]:
    stmt = select(Document).where(Document.collection_id == collection_id)
    return await pages.keyset_page(session, stmt, Document, limit=limit, cursor=cursor)
