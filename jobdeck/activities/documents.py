"""The document-processing job's side effects, on the item runner (activities/items.py):
each document is an item, worked parse -> chunk -> embed -> write.

A document that cannot be read fails alone (its item and its row say why); a document with
pages but no text layer is `needs_ocr`, with some failed pages `partial`. Vectors are keyed
`<document id>:<chunk index>` and a document's old vectors are deleted before its new ones
are written, so a chunk redone after a crash leaves no duplicate. A document whose content
and pipeline settings are those of the vectors already stored is skipped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from jobdeck.activities.base import ActivityGroup
from jobdeck.activities.document_sources import DatasetDocuments
from jobdeck.activities.items import (
    HandlerBase,
    ItemBatchInput,
    ItemBatchResult,
    ItemRunner,
    ItemSeedInput,
    ItemSeedResult,
)
from jobdeck.activities.outage import outlast
from jobdeck.clock import utcnow
from jobdeck.documents.chunking import chunker_for
from jobdeck.documents.embedding import Embedder, EmbeddingError, open_embedder
from jobdeck.documents.parsing import parse
from jobdeck.documents.types import DocumentError, VectorRecord
from jobdeck.documents.vectors import VectorStore, open_vector_store
from jobdeck.store import items as item_store
from jobdeck.store.items import Item, ItemStatus, NewItem, Outcome
from jobdeck.store.tables import Collection, Document

SEED_PAGE = 1000


@dataclass
class DocumentSummaryInput:
    job_id: str


@dataclass
class DocumentSummary:
    pages: int = 0
    chunks: int = 0
    tokens: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)  # the first 20


def fingerprint(document: Document, collection: Collection) -> str:
    """What the stored vectors were made from: the content and the pipeline settings."""
    parts = [
        document.sha256,
        collection.embedding_provider,
        collection.embedding_model,
        str(collection.chunk_max_tokens),
        str(collection.chunk_overlap),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


class DocumentHandler(HandlerBase):
    def __init__(
        self,
        group: DocumentActivities,
        job_id: str,
        collection: Collection,
        embedder: Embedder,
        store: VectorStore,
        force: bool,
    ) -> None:
        super().__init__()
        self.group = group
        self.job_id = job_id
        self.collection = collection
        self.embedder = embedder
        self.store = store
        self.force = force
        self.chunker = chunker_for(embedder, collection.chunk_max_tokens, collection.chunk_overlap)
        self.started = time.monotonic()
        self.pages = 0
        self.tokens = 0

    async def handle(self, items: Sequence[Item]) -> list[Outcome]:
        outcomes = []
        for item in items:
            details = item.details or {}
            if details.get("skip"):  # a dataset row that made no document
                outcome = Outcome(item.seq, ItemStatus.SKIPPED, error=str(details["skip"]))
            elif details.get("fail"):  # a dataset row whose document could not be stored
                outcome = Outcome(item.seq, ItemStatus.FAILED, error=str(details["fail"]))
            else:
                outcome = await self._one(item)
            if "row" in details:  # a dataset row's document: say which row
                outcome = dataclasses.replace(
                    outcome, result={**(outcome.result or {}), "row": details["row"]}
                )
            outcomes.append(outcome)
            activity.heartbeat()  # a long document keeps the attempt alive
        return outcomes

    def message(self, done: int, total: int) -> str | None:
        took = max(time.monotonic() - self.started, 1e-6)
        return (
            f"{done} of {total} documents · {self.pages / took:.1f} pages/s · "
            f"{self.tokens / took:.0f} tokens/s"
        )

    async def _one(self, item: Item) -> Outcome:
        db = self.group.db
        async with db.read() as session:
            document = await session.get(Document, item.key)
        if document is None or document.collection_id != self.collection.id:
            return Outcome(item.seq, ItemStatus.SKIPPED, error="the document was deleted")
        mark = fingerprint(document, self.collection)
        if document.fingerprint == mark and document.job_id == self.job_id:
            # Done by this job in an attempt that died before writing the outcome: take it.
            return Outcome(
                item.seq,
                ItemStatus(document.status),
                {
                    "documentId": document.id,
                    "filename": document.filename,
                    "pages": document.pages,
                    "characters": document.characters,
                    "chunks": document.chunks,
                    "tokens": document.tokens,
                },
            )
        if not self.force and document.fingerprint == mark:
            return Outcome(
                item.seq,
                ItemStatus.SKIPPED,
                {"documentId": document.id, "filename": document.filename},
                error="unchanged since it was last processed",
            )
        try:
            return await self._process(item, document, mark)
        except DocumentError as err:
            await self._save(document.id, {"status": "failed", "error": err.reason})
            return Outcome(
                item.seq,
                ItemStatus.FAILED,
                {"documentId": document.id, "filename": document.filename, "code": err.code},
                error=err.reason,
            )

    async def _process(self, item: Item, document: Document, mark: str) -> Outcome:
        settings = self.group.settings
        async with self.group.files.local_path(document.storage_key) as path:
            parsed = await asyncio.to_thread(
                parse,
                path,
                document.filename,
                max_pages=settings.document_max_pages,
                max_bytes=settings.document_max_bytes,
            )
        chunks = await asyncio.to_thread(self.chunker.chunk, parsed)
        failed_pages = {str(n): why for n, why in parsed.failed_pages.items()}
        for number in parsed.needs_ocr_pages:
            failed_pages.setdefault(str(number), "no text layer: needs OCR")
        base = {
            "documentId": document.id,
            "filename": document.filename,
            "pages": len(parsed.pages),
            "characters": parsed.characters,
        }
        await self.store.delete_document(self.collection.id, document.id)
        if not chunks:
            status = ItemStatus.NEEDS_OCR if parsed.needs_ocr_pages else ItemStatus.FAILED
            why = (
                "no page has a text layer: it needs OCR"
                if parsed.needs_ocr_pages
                else "no text to index"
            )
            await self._save(
                document.id,
                {
                    "status": status.value,
                    "error": why,
                    "pages": len(parsed.pages),
                    "failed_pages": failed_pages or None,
                    "characters": parsed.characters,
                    "tokens": 0,
                    "chunks": 0,
                    "fingerprint": None,
                },
            )
            return Outcome(item.seq, status, {**base, "chunks": 0}, error=why)
        vectors: list[list[float]] = []
        texts = [c.text for c in chunks]
        for start in range(0, len(texts), max(1, self.embedder.max_batch)):
            vectors += await self.embedder.embed(texts[start : start + self.embedder.max_batch])
            activity.heartbeat()
        # The vectors are paid for: a database outage is waited out here (the write is
        # idempotent by chunk id), not by running the step again, which would embed again.
        records = [
            VectorRecord(
                chunk_id=f"{document.id}:{c.index}",
                collection_id=self.collection.id,
                document_id=document.id,
                vector=v,
                page=c.page,
                start=c.start,
                end=c.end,
                text=c.text,
                metadata={
                    "filename": document.filename,
                    "section": c.section,
                    "tokens": c.tokens,  # for the chunks export
                },
            )
            for c, v in zip(chunks, vectors, strict=True)
        ]

        async def write_vectors() -> None:
            await self.store.ensure_collection(self.collection.id, len(vectors[0]))
            await self.store.upsert(records)

        await outlast(write_vectors, what="writing a document's vectors")
        tokens = sum(c.tokens for c in chunks)
        self.pages += len(parsed.pages)
        self.tokens += tokens
        status = ItemStatus.PARTIAL if failed_pages else ItemStatus.SUCCEEDED
        await self._save(
            document.id,
            {
                "status": status.value,
                "error": None,
                "pages": len(parsed.pages),
                "failed_pages": failed_pages or None,
                "characters": parsed.characters,
                "tokens": tokens,
                "chunks": len(chunks),
                "fingerprint": mark,
                "format": parsed.format,
            },
            dimensions=len(vectors[0]),
        )
        result = {**base, "chunks": len(chunks), "tokens": tokens}
        if failed_pages:
            result["failedPages"] = failed_pages
        return Outcome(item.seq, status, result)

    async def _save(
        self, document_id: str, values: dict[str, Any], dimensions: int | None = None
    ) -> None:
        async def work(session: Any) -> None:
            document = await session.get(Document, document_id)
            if document is None:
                return
            for name, value in {**values, "job_id": self.job_id, "updated_at": utcnow()}.items():
                setattr(document, name, value)
            if dimensions is not None:
                collection = await session.get(Collection, self.collection.id)
                if collection is not None and collection.embedding_dimensions != dimensions:
                    collection.embedding_dimensions = dimensions

        # The row (with its fingerprint) is what lets a rerun take a document without
        # embedding it again: a database outage is waited out here, not by failing the call.
        await outlast(partial(self.group.db.transact, work), what="saving a document")


class DocumentActivities(ActivityGroup):
    @activity.defn(name="documents.seed")
    async def seed(self, run: ItemSeedInput) -> ItemSeedResult:
        collection_id = str(run.params["collectionId"])
        wanted = [str(i) for i in run.params.get("documentIds") or []]
        async with self.db.read() as session:
            collection = await session.get(Collection, collection_id)
        if collection is None or collection.organization_id != run.organization_id:
            # Another organization's collection is reported exactly like a missing one.
            raise ApplicationError(
                f"collection {collection_id} not found", type="NotFound", non_retryable=True
            )

        async def listing() -> AsyncIterator[Sequence[NewItem]]:
            stmt = (
                select(Document.id, Document.filename)
                .where(Document.collection_id == collection_id)
                .order_by(Document.created_at, Document.id)
            )
            if wanted:
                stmt = stmt.where(Document.id.in_(wanted))
            async with self.db.read() as session:
                rows = (await session.execute(stmt)).all()
            for start in range(0, len(rows), SEED_PAGE):
                yield [
                    NewItem(i, {"filename": name}) for i, name in rows[start : start + SEED_PAGE]
                ]

        if run.params.get("datasetId"):
            # The dataset's rows become documents first (as they are listed).
            rows = DatasetDocuments(self.runtime, run, collection)
            return await ItemRunner(self.db, self.records).seed(run, rows.items)
        return await ItemRunner(self.db, self.records).seed(run, listing)

    @activity.defn(name="documents.work")
    async def work(self, batch: ItemBatchInput) -> ItemBatchResult:
        async with self.db.read() as session:
            collection = await session.get(Collection, str(batch.params["collectionId"]))
        if collection is None:
            raise ApplicationError(
                f"collection {batch.params['collectionId']} was deleted",
                type="CollectionGone",
                non_retryable=True,
            )
        try:
            embedder = open_embedder(
                self.settings,
                collection.embedding_provider,
                collection.embedding_model,
                budgets=self.runtime.budgets,
            )
        except EmbeddingError as err:
            raise ApplicationError(
                str(err), type="EmbeddingError", non_retryable=not err.retryable
            ) from err
        store = open_vector_store(self.settings)
        try:
            handler = DocumentHandler(
                self, batch.job_id, collection, embedder, store, bool(batch.params.get("force"))
            )
            return await ItemRunner(self.db, self.records).work(
                batch, handler, unit="documents", stage="processing"
            )
        finally:
            await embedder.aclose()
            await store.aclose()

    @activity.defn(name="documents.summary")
    async def summary(self, query: DocumentSummaryInput) -> DocumentSummary:
        """The job's totals from its items' results, and its failed documents."""
        out = DocumentSummary()
        after = 0
        while True:
            async with self.db.read() as session:
                rows, cursor = await item_store.list_items(
                    session, job_id=query.job_id, cursor=str(after), limit=item_store.MAX_PAGE
                )
            for row in rows:
                result = row.result or {}
                out.pages += int(result.get("pages", 0))
                out.chunks += int(result.get("chunks", 0))
                out.tokens += int(result.get("tokens", 0))
                if row.status == ItemStatus.FAILED.value and len(out.failed) < 20:
                    name = (row.details or {}).get("filename")
                    out.failed.append({"documentId": row.key, "filename": name, "error": row.error})
            if cursor is None:
                return out
            after = int(cursor)
