"""Datasets: upload, list, get, download, delete, and validate as a job."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from jobdeck.api.dataset_schemas import DatasetPublic, DatasetsPublic, DatasetValidate
from jobdeck.api.deps import CurrentUser, JobsDep, RuntimeDep
from jobdeck.api.filenames import content_disposition, safe_name
from jobdeck.api.quotas import check_storage, hold_storage, storage_room
from jobdeck.api.ratelimit import RATE_LIMITED, CreationLimit, UploadLimit
from jobdeck.api.schemas import JobPublic, Problem
from jobdeck.api.uploads import FILE_FIELD, Upload, receive_upload
from jobdeck.api.views import dataset_public, job_public
from jobdeck.clock import utcnow
from jobdeck.config import Settings
from jobdeck.dataformats import MEDIA_TYPES, DatasetFormat, format_from_name
from jobdeck.dataset_files import discard, storage_key
from jobdeck.errors import InvalidInput
from jobdeck.services.jobs import NewJob
from jobdeck.store import datasets as dataset_store
from jobdeck.store.tables import Dataset

router = APIRouter(prefix="/api/datasets", tags=["datasets"])


def _format_of(upload: Upload, settings: Settings) -> DatasetFormat:
    given = upload.fields.get("format", "").strip().lower()
    allowed = ", ".join(settings.dataset_formats)
    if given:
        try:
            fmt = DatasetFormat(given)
        except ValueError:
            raise InvalidInput(f"unknown format {given!r}; one of: {allowed}") from None
    else:
        filename = safe_name(upload.filename)
        found = format_from_name(filename)
        if found is None:
            raise InvalidInput(
                f"cannot tell the format of {filename!r} from its name; send a "
                f"'format' field, one of: {allowed}"
            )
        fmt = found
    if fmt.value not in settings.dataset_formats:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"format {fmt.value!r} is not accepted here; allowed: {allowed}",
        )
    return fmt


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
                        "description": "The dataset file; its name gives the format unless "
                        "`format` is sent (JOBDECK_DATASET_MAX_UPLOAD_BYTES at most)",
                    },
                    "name": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 255,
                        "description": "The dataset's name; default: the file's. Kept as a "
                        "base name without control characters",
                    },
                    "format": {
                        "type": "string",
                        "enum": [f.value for f in DatasetFormat],
                        "description": "Default: from the file's name",
                    },
                },
            }
        }
    },
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DatasetPublic,
    openapi_extra={"requestBody": _UPLOAD_BODY},
    dependencies=[UploadLimit],
    responses={
        **RATE_LIMITED,
        400: {"model": Problem, "description": "Not one file in the field `file`, or malformed"},
        413: {
            "model": Problem,
            "description": "The file, or the form fields, too large; or past the storage quota",
        },
        415: {"model": Problem, "description": "Not multipart/form-data, or a format not taken"},
        422: {"description": "Validation Error"},
    },
)
async def upload_dataset(
    request: Request, runtime: RuntimeDep, principal: CurrentUser, response: Response
) -> DatasetPublic:
    """Upload a file as multipart/form-data (field `file`; optional `name`, `format`)."""
    settings = runtime.settings
    storage = runtime.files
    room = await storage_room(runtime, principal.organization_id)
    upload = await receive_upload(request, storage, settings.dataset_max_upload_bytes, room)
    try:
        fmt = _format_of(upload, settings)
        # A name, never a path: `../../etc/passwd.csv` is kept as `passwd.csv`.
        name = safe_name(upload.fields.get("name") or upload.filename)
        if not name or len(name) > 255:
            raise InvalidInput(
                "name must be 1 to 255 characters, not counting folders and control "
                "characters; send a 'name' field"
            )
        dataset_id = str(uuid.uuid4())
        key = storage_key(principal.organization_id, dataset_id, fmt)
        await storage.put(key, upload.path)
        try:
            async with runtime.db.write() as session:
                room = await hold_storage(session, settings, principal.organization_id)
                dataset = await dataset_store.insert_dataset(
                    session,
                    dataset_id=dataset_id,
                    organization_id=principal.organization_id,
                    user_id=principal.user_id,
                    name=name,
                    format=fmt.value,
                    size_bytes=upload.size,
                    sha256=upload.sha256,
                    storage_key=key,
                    now=utcnow(),
                )
                await check_storage(session, room, principal.organization_id)
        except BaseException:
            await storage.delete(key)
            raise
    finally:
        discard(upload.path)
    response.headers["Location"] = f"/api/datasets/{dataset.id}"
    return dataset_public(dataset)


@router.get("", response_model=DatasetsPublic)
async def list_datasets(
    runtime: RuntimeDep,
    principal: CurrentUser,
    format: Annotated[str | None, Query(max_length=16)] = None,
    q: Annotated[str | None, Query(max_length=200, description="Search names")] = None,
    source_dataset_id: Annotated[
        str | None, Query(alias="sourceDatasetId", max_length=36, description="Its outputs")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=dataset_store.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> DatasetsPublic:
    """List the organization's datasets, newest first, paginated by cursor."""
    async with runtime.db.read() as session:
        rows, next_cursor = await dataset_store.list_datasets(
            session,
            organization_id=principal.organization_id,
            limit=limit,
            cursor=cursor,
            format=format,
            q=q,
            source_dataset_id=source_dataset_id,
        )
    return DatasetsPublic(data=[dataset_public(d) for d in rows], next_cursor=next_cursor)


async def _get(runtime: RuntimeDep, principal: CurrentUser, dataset_id: str) -> Dataset:
    async with runtime.db.read() as session:
        return await dataset_store.get_dataset(
            session, organization_id=principal.organization_id, dataset_id=dataset_id
        )


@router.get("/{dataset_id}", response_model=DatasetPublic)
async def get_dataset(
    dataset_id: str, runtime: RuntimeDep, principal: CurrentUser
) -> DatasetPublic:
    """One dataset, with its lineage and validation report."""
    return dataset_public(await _get(runtime, principal, dataset_id))


@router.get("/{dataset_id}/download", response_class=StreamingResponse)
async def download_dataset(
    dataset_id: str, runtime: RuntimeDep, principal: CurrentUser
) -> StreamingResponse:
    """The dataset's file, streamed."""
    dataset = await _get(runtime, principal, dataset_id)
    return StreamingResponse(
        runtime.files.iter_bytes(dataset.storage_key),
        media_type=MEDIA_TYPES[DatasetFormat(dataset.format)],
        headers={
            "Content-Disposition": content_disposition(dataset.name),
            "Content-Length": str(dataset.size_bytes),
        },
    )


@router.delete("/{dataset_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_dataset(dataset_id: str, runtime: RuntimeDep, principal: CurrentUser) -> None:
    """Delete the dataset and its file; datasets made from it keep their lineage ids."""
    async with runtime.db.write() as session:
        dataset = await dataset_store.delete_dataset(
            session, organization_id=principal.organization_id, dataset_id=dataset_id
        )
    await runtime.files.delete(dataset.storage_key)


@router.post(
    "/{dataset_id}/validate",
    status_code=status.HTTP_201_CREATED,
    response_model=JobPublic,
    dependencies=[CreationLimit],  # a validation is a job: counted as a job creation
    responses=RATE_LIMITED,
)
async def validate_dataset(
    dataset_id: str,
    runtime: RuntimeDep,
    jobs: JobsDep,
    principal: CurrentUser,
    response: Response,
    body: DatasetValidate | None = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JobPublic:
    """Check a chat JSONL dataset against OpenAI's fine-tuning rules, as a job."""
    dataset = await _get(runtime, principal, dataset_id)
    if dataset.format != DatasetFormat.JSONL.value:
        raise InvalidInput(
            f"dataset {dataset.name!r} is {dataset.format}; validation checks OpenAI chat "
            "JSONL: convert it first with a data-conversion job (outputFormat openai-chat)"
        )
    body = body or DatasetValidate()
    new = NewJob(
        type="dataset-validation",
        name=f"validate {dataset.name}"[:200],
        data={"datasetId": dataset.id, "model": body.model, "epochs": body.epochs},
    )
    job, _ = await jobs.create(principal, new, idempotency_key=idempotency_key)
    response.headers["Location"] = f"/api/jobs/{job.id}"
    return job_public(job, runtime.settings)
