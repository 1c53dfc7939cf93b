"""Models the organization's jobs produced: list, one with its lineage, a trained
adapter's files, and publishing an adapter to Ollama (a `model-publish` job)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import FileResponse

from jobdeck.api.deps import CurrentUser, JobsDep, RuntimeDep
from jobdeck.api.fine_tuning_schemas import ModelPublic, ModelsPublic, PublishBody
from jobdeck.api.schemas import JobPublic
from jobdeck.api.views import job_public, model_public
from jobdeck.errors import InvalidInput, NotFound
from jobdeck.services.jobs import NewJob
from jobdeck.store import fine_tuning as ft_store
from jobdeck.store import pages
from jobdeck.store.tables import Model

router = APIRouter(prefix="/api/models", tags=["models"])


@router.get("", response_model=ModelsPublic)
async def list_models(
    runtime: RuntimeDep,
    principal: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=pages.MAX_PAGE)] = pages.DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> ModelsPublic:
    """Models the organization's jobs produced, newest first, paginated by cursor."""
    async with runtime.db.read() as session:
        models, next_cursor = await ft_store.list_models(
            session, organization_id=principal.organization_id, limit=limit, cursor=cursor
        )
    return ModelsPublic(data=[model_public(m) for m in models], next_cursor=next_cursor)


async def _get(runtime: RuntimeDep, organization_id: str, model_id: str) -> Model:
    async with runtime.db.read() as session:
        return await ft_store.get_model(session, organization_id=organization_id, model_id=model_id)


@router.get("/{model_id}", response_model=ModelPublic)
async def get_model(model_id: str, runtime: RuntimeDep, principal: CurrentUser) -> ModelPublic:
    """One model with its lineage: dataset, base model, job."""
    return model_public(await _get(runtime, principal.organization_id, model_id))


@router.get("/{model_id}/files/{name}", response_class=FileResponse)
async def model_file(
    model_id: str, name: str, runtime: RuntimeDep, principal: CurrentUser
) -> FileResponse:
    """One file of a trained adapter (adapter_model.safetensors, adapter_config.json)."""
    model = await _get(runtime, principal.organization_id, model_id)
    files = (model.details or {}).get("adapterFiles") or {}
    path = runtime.settings.adapter_dir(str(model.job_id)) / name
    if name not in files or not path.is_file():
        raise NotFound(f"model {model_id} has no file {name!r}")
    return FileResponse(path, filename=name, media_type="application/octet-stream")


@router.post("/{model_id}/publish", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic)
async def publish_model(
    model_id: str,
    body: PublishBody,
    runtime: RuntimeDep,
    jobs: JobsDep,
    principal: CurrentUser,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JobPublic:
    """Publish a trained LoRA adapter to Ollama as a new model; returns the background job."""
    model = await _get(runtime, principal.organization_id, model_id)
    if (model.details or {}).get("kind") != "lora-adapter":
        raise InvalidInput(f"model {model.name} is not a LoRA adapter trained by jobdeck")
    if not (body.base_model or (model.details or {}).get("ollamaBaseModel")):
        raise InvalidInput(
            "baseModel is required: the Ollama model the adapter was trained on "
            "(the training did not name one in ollamaBaseModel)"
        )
    data = {"modelId": model.id, **body.model_dump(mode="json", by_alias=True, exclude_none=True)}
    job, created = await jobs.create(
        principal,
        NewJob(type="model-publish", name=f"Publish {model.name} to Ollama", data=data),
        idempotency_key=idempotency_key,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/api/jobs/{job.id}"
    return job_public(job, runtime.settings)
