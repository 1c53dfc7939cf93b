"""Many documents in one upload: several files in one multipart request, and .zip archives
whose members become documents (jobdeck/api/archives.py has the limits and what is
skipped). All or nothing: a refusal leaves no file stored and no document row."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, Response, status

from jobdeck.api.archives import ArchiveError, ArchiveLimits, Skipped, expand, is_archive
from jobdeck.api.collection_schemas import SkippedFilePublic, UploadPublic
from jobdeck.api.deps import CurrentUser, RuntimeDep
from jobdeck.api.filenames import safe_name
from jobdeck.api.multi_uploads import FILE_FIELDS, receive_files
from jobdeck.api.quotas import check_storage, hold_storage, storage_room
from jobdeck.api.routes.collections import _document_public, _refusal
from jobdeck.api.schemas import Problem
from jobdeck.clock import utcnow
from jobdeck.config import Settings
from jobdeck.dataset_files import discard
from jobdeck.documents.parsing import detect_format
from jobdeck.documents.types import DocumentError
from jobdeck.errors import InvalidInput
from jobdeck.store import collections as collection_store
from jobdeck.store.accounts import Principal

router = APIRouter()

# In an archive these are skipped (reported), not refused: not every file in a folder
# someone zipped is a document. Sent as files of their own they are refused, as one is.
_SKIPPED_IN_ARCHIVES = {"empty", "unknown_format"}

_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": [FILE_FIELDS[0]],
                "properties": {
                    FILE_FIELDS[0]: {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "description": "Documents (PDF, DOCX, PPTX, XLSX, HTML, Markdown, text) "
                        "and .zip archives of them; a document of the same name in the "
                        "collection is replaced",
                    },
                },
            }
        }
    },
}


@dataclass
class _Candidate:
    name: str
    path: Path
    size: int
    sha256: str
    in_archive: bool
    source: str  # as sent: the file's name, or the member's path in its archive
    format: str = ""


def _limits(settings: Settings, files_left: int, bytes_left: int) -> ArchiveLimits:
    return ArchiveLimits(
        max_members=files_left,
        max_total_bytes=bytes_left,
        max_member_bytes=settings.document_archive_member_max_bytes,
        max_ratio=settings.document_archive_max_ratio,
    )


def _archive_refusal(err: ArchiveError) -> HTTPException:
    code = (
        status.HTTP_413_CONTENT_TOO_LARGE
        if err.too_large
        else status.HTTP_422_UNPROCESSABLE_CONTENT
    )
    return HTTPException(code, err.reason)


async def _gather(
    request: Request,
    runtime: RuntimeDep,
    principal: Principal,
    collection_id: str,
    candidates: list[_Candidate],
    skipped: list[Skipped],
) -> None:
    """Fill `candidates` with the request's documents and archive members (their scratch
    files the caller's to discard) and `skipped` with what is not stored."""
    settings = runtime.settings
    storage = runtime.files
    received = await receive_files(
        request,
        storage,
        max_bytes=settings.dataset_max_upload_bytes,
        max_files=settings.document_upload_max_files,
        room=await storage_room(runtime, principal.organization_id, collection_id=collection_id),
    )
    singles = sum(1 for file in received if not is_archive(file.filename))
    try:
        expanded = 0
        for number, file in enumerate(received):
            if not is_archive(file.filename):
                name = safe_name(file.filename)
                if not name or len(name) > 255:
                    raise InvalidInput(
                        f"file {number + 1}: its name must be 1 to 255 characters, without folders"
                    )
                candidates.append(
                    _Candidate(name, file.path, file.size, file.sha256, False, file.filename)
                )
                continue
            members_so_far = sum(1 for c in candidates if c.in_archive)
            limits = _limits(
                settings,
                max(0, settings.document_upload_max_files - singles - members_so_far),
                settings.document_archive_max_bytes - expanded,
            )
            try:
                members, passed = await asyncio.to_thread(
                    expand, file.path, safe_name(file.filename), limits, storage.scratch
                )
            except ArchiveError as err:
                raise _archive_refusal(err) from None
            expanded += sum(m.size for m in members)
            skipped += passed
            candidates += [
                _Candidate(m.name, m.path, m.size, m.sha256, True, m.source) for m in members
            ]
    finally:
        # Archives once expanded, and any file not reached after a refusal; the
        # candidates' files are the caller's to discard.
        taken = {c.path for c in candidates}
        for file in received:
            if file.path not in taken:
                discard(file.path)


async def _formats(candidates: list[_Candidate], skipped: list[Skipped]) -> list[_Candidate]:
    seen: dict[str, str] = {}
    kept: list[_Candidate] = []
    for candidate in candidates:
        try:
            candidate.format = await asyncio.to_thread(
                detect_format, candidate.path, candidate.name
            )
        except DocumentError as err:
            if candidate.in_archive and err.code in _SKIPPED_IN_ARCHIVES:
                skipped.append(Skipped(candidate.source, err.reason))
                continue
            raise _refusal(err) from None
        if candidate.name in seen:
            raise InvalidInput(
                f"two files in the upload are named {candidate.name!r} (folders in an archive "
                "are flattened into the name); rename one"
            )
        seen[candidate.name] = candidate.name
        kept.append(candidate)
    if not kept:
        raise InvalidInput(
            "no document in the upload: " + "; ".join(f"{s.name}: {s.reason}" for s in skipped[:5])
        )
    return kept


@router.post(
    "/api/collections/{collection_id}/uploads",
    status_code=status.HTTP_201_CREATED,
    response_model=UploadPublic,
    tags=["collections"],
    openapi_extra={"requestBody": _UPLOAD_BODY},
    responses={
        400: {"model": Problem, "description": "A part that is not a file, or malformed"},
        413: {
            "model": Problem,
            "description": "Too many files or bytes, a zip bomb, or past the storage quota",
        },
        415: {"model": Problem, "description": "Not multipart/form-data, or not a document"},
        422: {"model": Problem, "description": "A bad file, name or archive member"},
    },
)
async def upload_documents(
    collection_id: str,
    request: Request,
    runtime: RuntimeDep,
    principal: CurrentUser,
    response: Response,
) -> UploadPublic:
    """Upload many documents, and .zip archives of them, in one multipart request (each in
    a field `file`); all are stored or none."""
    async with runtime.db.read() as session:
        await collection_store.get_collection(
            session, organization_id=principal.organization_id, collection_id=collection_id
        )
    storage = runtime.files
    candidates: list[_Candidate] = []
    skipped: list[Skipped] = []
    stored: list[str] = []
    old_keys: list[str] = []
    try:
        await _gather(request, runtime, principal, collection_id, candidates, skipped)
        kept = await _formats(candidates, skipped)
        prefix = f"{principal.organization_id}/collections/{collection_id}"
        ids = [str(uuid.uuid4()) for _ in kept]
        for document_id, candidate in zip(ids, kept, strict=True):
            key = f"{prefix}/{document_id}.{candidate.format}"
            await storage.put(key, candidate.path)
            stored.append(key)
        now = utcnow()
        async with runtime.db.write() as session:
            room = await hold_storage(session, runtime.settings, principal.organization_id)
            documents = []
            for document_id, key, candidate in zip(ids, stored, kept, strict=True):
                document, old_key = await collection_store.upsert_document(
                    session,
                    document_id=document_id,
                    collection_id=collection_id,
                    organization_id=principal.organization_id,
                    filename=candidate.name,
                    storage_key=key,
                    size_bytes=candidate.size,
                    sha256=candidate.sha256,
                    format=candidate.format,
                    now=now,
                )
                documents.append(document)
                if old_key is not None:
                    old_keys.append(old_key)
            # Archives expand past what streamed in: the quota holds for what is stored.
            await check_storage(session, room, principal.organization_id)
        stored = []  # committed: they are the documents' files now
    finally:
        for key in stored:
            await storage.delete(key)
        for candidate in candidates:
            discard(candidate.path)
    for key in old_keys:
        await storage.delete(key)
    response.headers["Location"] = f"/api/collections/{collection_id}/documents"
    return UploadPublic(
        data=[_document_public(d) for d in documents],
        skipped=[SkippedFilePublic(name=s.name, reason=s.reason) for s in skipped],
    )
