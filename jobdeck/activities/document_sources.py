"""Where a document-processing job's documents come from besides uploads: a dataset's
rows, each one a document of the collection (its text from one column, its name from
another or from its row number).

`prepare_ingest` is the job type's `prepare`: before a job starts it checks that the
collection, and the dataset and its columns, are the caller's organization's. Another
organization's collection or dataset is refused exactly like a missing one.

`DatasetDocuments` is the seed's import: rows become documents page by page (a file in
storage and a row in `documents` each). A row's document is found by its id, derived from
the collection, dataset and row, so importing the same dataset again (with another title
column, too) updates each row's document in place: its name follows the title, and only a
changed text is processed again (the title is not embedded). A newer upload of a
same-named dataset takes over the documents of the same names. Files are named by the
row's document id and content hash: rewriting one (a retried seed) writes the same bytes,
and a changed row gets a new file, its old one deleted once the new one is committed. A
row with no text is listed as a skipped item, with the reason; a row whose name another
document of the collection has is listed as a failed item, saying which.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.exceptions import ApplicationError

from jobdeck.activities import document_rows
from jobdeck.activities.conversion.errors import DataError
from jobdeck.activities.document_rows import Row
from jobdeck.activities.items import ItemSeedInput
from jobdeck.clock import utcnow
from jobdeck.dataset_files import discard
from jobdeck.documents.parsing import detect_format
from jobdeck.documents.types import DocumentError
from jobdeck.errors import InvalidInput, NotFound
from jobdeck.inputs import DocumentProcessingData
from jobdeck.store import collections as collection_store
from jobdeck.store import datasets as dataset_store
from jobdeck.store.engine import is_outage
from jobdeck.store.items import NewItem
from jobdeck.store.tables import Collection, Dataset

if TYPE_CHECKING:
    from jobdeck.runtime import Runtime
    from jobdeck.store.accounts import Principal

PAGE = 500  # rows stored as documents, and listed as items, per transaction
# Tries of one page's transaction that the database refuses (a unique key): the first
# refusal is a concurrent write between look-up and insert, which a second look sees.
STORE_TRIES = 2
# A row's document id is derived from the collection, dataset and row: the same on a retry.
_ROW_NAMESPACE = uuid.UUID("6c2b0f5e-8d41-4f0a-a0b7-3e9d2c7f1a64")


async def prepare_ingest(
    runtime: Runtime, principal: Principal, data: dict[str, Any]
) -> dict[str, Any]:
    """The job's data as given, once its collection (and dataset and columns) are found in
    the caller's organization; InvalidInput otherwise."""
    request = DocumentProcessingData.model_validate(data)
    org = principal.organization_id
    async with runtime.db.read() as session:
        try:
            await collection_store.get_collection(
                session, organization_id=org, collection_id=request.collection_id
            )
        except NotFound:
            raise InvalidInput(
                f"data.collectionId: collection {request.collection_id} not found in your "
                "organization"
            ) from None
        if request.dataset_id is None:
            return data
        try:
            dataset = await dataset_store.get_dataset(
                session, organization_id=org, dataset_id=request.dataset_id
            )
        except NotFound:
            raise InvalidInput(
                f"data.datasetId: dataset {request.dataset_id} not found in your organization"
            ) from None
    try:
        async with runtime.files.local_path(dataset.storage_key) as path:
            available = await asyncio.to_thread(
                _columns, path, dataset, runtime.settings.dataset_max_row_bytes
            )
    except FileNotFoundError:
        raise InvalidInput(
            f"data.datasetId: the file of dataset {dataset.name!r} is gone from storage; "
            "upload it again"
        ) from None
    except DataError as err:
        raise InvalidInput(f"data.datasetId: {err.message}") from None
    for field, column in (
        ("textColumn", request.text_column),
        ("titleColumn", request.title_column),
    ):
        if column is not None and column not in available:
            missing = document_rows.missing_column(dataset.name, column, available, f"data.{field}")
            raise InvalidInput(missing.message)
    return data


def _columns(path: Path, dataset: Dataset, max_row_bytes: int) -> list[str]:
    reader = document_rows.open_dataset(
        path, dataset.format, dataset.name, max_row_bytes=max_row_bytes
    )
    try:
        return document_rows.columns(reader)
    finally:
        reader.close()


@dataclass
class _RowFile:
    """A row written to a scratch file, on its way to storage and the documents table."""

    row: Row
    name: str
    document_id: str
    path: Path
    size: int
    sha256: str
    format: str
    key: str = ""


@dataclass
class _Stored:
    """What a page's transaction did: each stored row's document id, the rows it could not
    store (why), and the files no document holds any more (deleted once it commits)."""

    ids: dict[int, str] = dataclasses.field(default_factory=dict)
    failed: dict[int, str] = dataclasses.field(default_factory=dict)
    stale: list[str] = dataclasses.field(default_factory=list)


@dataclass
class _Skipped:
    row: Row
    name: str
    reason: str


class DatasetDocuments:
    """The seed's source for a job over a dataset's rows (see the module docstring)."""

    def __init__(self, runtime: Runtime, run: ItemSeedInput, collection: Collection) -> None:
        self.runtime = runtime
        self.run = run
        self.collection = collection
        self.dataset_id = str(run.params["datasetId"])
        self.text_column = str(run.params["textColumn"])
        title = run.params.get("titleColumn")
        self.title_column = str(title) if title else None

    async def items(self) -> AsyncIterator[Sequence[NewItem]]:
        dataset = await self._dataset()
        settings = self.runtime.settings
        try:
            async with self.runtime.files.local_path(dataset.storage_key) as path:
                reader = await asyncio.to_thread(
                    document_rows.open_dataset,
                    path,
                    dataset.format,
                    dataset.name,
                    max_row_bytes=settings.dataset_max_row_bytes,
                )
                try:
                    batches = document_rows.rows(
                        reader, dataset.name, self.text_column, self.title_column
                    )
                    while (batch := await asyncio.to_thread(next, batches, None)) is not None:
                        for start in range(0, len(batch), PAGE):
                            yield await self._store(dataset, batch[start : start + PAGE])
                finally:
                    reader.close()
        except FileNotFoundError:
            raise ApplicationError(
                f"the file of dataset {dataset.name!r} ({dataset.id}) is gone from storage; "
                "upload it again",
                type="DatasetNotFound",
                non_retryable=True,
            ) from None
        except DataError as err:
            raise ApplicationError(
                err.message, err.details, type=err.kind, non_retryable=True
            ) from None

    async def _dataset(self) -> Dataset:
        try:
            async with self.runtime.db.read() as session:
                return await dataset_store.get_dataset(
                    session, organization_id=self.run.organization_id, dataset_id=self.dataset_id
                )
        except NotFound:
            raise ApplicationError(
                f"dataset {self.dataset_id} not found in your organization",
                type="DatasetNotFound",
                non_retryable=True,
            ) from None

    def _write(self, dataset: Dataset, rows: list[Row]) -> list[_RowFile | _Skipped]:
        """Each row with text as a scratch file (in a thread: hashing and format sniffing)."""
        out: list[_RowFile | _Skipped] = []
        for row in rows:
            name = document_rows.document_name(dataset.name, row.number, row.title)
            if not row.text.strip():
                why = f"row {row.number} has no text in column {self.text_column!r}"
                out.append(_Skipped(row, name, why))
                continue
            content = row.text.encode("utf-8")
            path = self.runtime.files.scratch(".txt")
            path.write_bytes(content)
            try:
                fmt = detect_format(path, name)
            except DocumentError as err:
                discard(path)
                out.append(_Skipped(row, name, f"row {row.number}: {err.reason}"))
                continue
            key = f"{self.collection.id}/{dataset.id}/{row.number}"
            document_id = str(uuid.uuid5(_ROW_NAMESPACE, key))
            digest = hashlib.sha256(content).hexdigest()
            out.append(_RowFile(row, name, document_id, path, len(content), digest, fmt))
        return out

    async def _store(self, dataset: Dataset, rows: list[Row]) -> list[NewItem]:
        written = await asyncio.to_thread(self._write, dataset, rows)
        files = [w for w in written if isinstance(w, _RowFile)]
        storage = self.runtime.files
        prefix = f"{self.run.organization_id}/collections/{self.collection.id}"
        try:
            for f in files:
                f.key = f"{prefix}/{f.document_id}-{f.sha256[:16]}.{f.format}"
                await storage.put(f.key, f.path)
        finally:
            for f in files:
                discard(f.path)  # put consumed it; this is for those not reached

        async def upsert(session: AsyncSession) -> _Stored:
            stored = _Stored()
            now = utcnow()
            for f in files:
                try:
                    document, old_key = await collection_store.upsert_row_document(
                        session,
                        document_id=f.document_id,
                        collection_id=self.collection.id,
                        organization_id=self.run.organization_id,
                        filename=f.name,
                        storage_key=f.key,
                        size_bytes=f.size,
                        sha256=f.sha256,
                        format=f.format,
                        now=now,
                    )
                except collection_store.NameTaken as err:
                    stored.failed[f.row.number] = f"row {f.row.number}: {err}"
                    if f.key != err.kept_key:
                        stored.stale.append(f.key)  # stored above for nothing
                    continue
                stored.ids[f.row.number] = document.id
                if old_key is not None and old_key != f.key:
                    stored.stale.append(old_key)
            return stored

        stored = await self._transact(dataset, rows, upsert)
        for key in stored.stale:
            await storage.delete(key)
        items = []
        for w in written:
            details: dict[str, Any] = {"filename": w.name, "row": w.row.number}
            number = w.row.number
            if isinstance(w, _RowFile) and number in stored.ids:
                items.append(NewItem(stored.ids[number], details))
                continue
            if isinstance(w, _RowFile):
                details["fail"] = stored.failed[number]
            else:
                details["skip"] = w.reason
            items.append(NewItem(f"{dataset.id}:{number}", details))
        return items

    async def _transact(
        self, dataset: Dataset, rows: list[Row], work: Callable[[AsyncSession], Awaitable[_Stored]]
    ) -> _Stored:
        """Run a page's transaction. A unique key the database still refuses after a second
        look is no fault that passes: the job fails with it, instead of its seed being
        retried for ever. An outage goes up as it is (retried until the database is back)."""
        tries = 0
        while True:
            tries += 1
            try:
                return await self.runtime.db.transact(work)
            except IntegrityError as err:
                if is_outage(err):
                    raise
                if tries < STORE_TRIES:
                    continue
                reason = str(err.orig).splitlines()[0][:500]
                raise ApplicationError(
                    f"rows {rows[0].number} to {rows[-1].number} of dataset {dataset.name!r} "
                    f"could not be stored as documents: {reason}",
                    type="DocumentNotStored",
                    non_retryable=True,
                ) from None
