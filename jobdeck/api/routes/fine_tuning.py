"""Fine-tuning jobs and their providers (OpenAI, Ollama, local training)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import httpx
from fastapi import APIRouter, Header, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from jobdeck.api.deps import CurrentUser, RuntimeDep
from jobdeck.api.fine_tuning_schemas import (
    FineTuningCreate,
    FineTuningPublic,
    FineTuningsPublic,
    MetricPoint,
    ProviderPublic,
)
from jobdeck.control import NewJob, utcnow
from jobdeck.errors import InvalidInput, NotFound
from jobdeck.finetune_models import MODELS
from jobdeck.jobtypes import training_unavailable
from jobdeck.store import datasets as dataset_store
from jobdeck.store import finetuning as ft_store
from jobdeck.store.tables import FineTuning, FineTuningMetric

router = APIRouter(prefix="/api", tags=["fine-tuning"])

OLLAMA_DESCRIPTION = (
    "Ollama does not train. It customizes a base model: jobdeck pulls the base model and "
    "creates a new one from it with the dataset's system prompt and a few of its examples "
    "as few-shot messages."
)
OPENAI_DESCRIPTION = "Supervised fine-tuning on OpenAI's machines, polled until it ends."
LOCAL_DESCRIPTION = (
    "LoRA fine-tuning on a training worker's own CPU or GPU (PyTorch, transformers, peft), "
    "with checkpoints; the adapter can be published to Ollama."
)


def _public(record: FineTuning, metrics: list[FineTuningMetric]) -> FineTuningPublic:
    return FineTuningPublic(
        id=record.id,
        job_id=record.id,
        name=record.name,
        provider=record.provider,
        base_model=record.base_model,
        dataset_id=record.dataset_id,
        validation_dataset_id=record.validation_dataset_id,
        hyperparameters=record.hyperparameters,
        suffix=record.suffix,
        status=record.phase,
        provider_status=record.provider_status,
        provider_job_id=record.provider_job_id,
        provider_files=record.provider_files,
        trained_tokens=record.trained_tokens,
        metrics=[
            MetricPoint(step=m.step, total_steps=m.total_steps, values=m.values) for m in metrics
        ],
        checkpoints=(record.checkpoints or {}).get("data", []),
        fine_tuned_model=record.fine_tuned_model,
        model_id=record.model_id,
        error=record.error,
        created_at=record.created_at,
        updated_at=record.updated_at,
        finished_at=record.finished_at,
    )


@router.post(
    "/fine-tuning/jobs", status_code=status.HTTP_201_CREATED, response_model=FineTuningPublic
)
async def create_fine_tuning(
    body: FineTuningCreate,
    runtime: RuntimeDep,
    principal: CurrentUser,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> FineTuningPublic:
    """Start a fine-tune; returns its record with the id of its background job."""
    settings = runtime.settings
    if body.provider == "openai":
        if settings.openai_api_key is None:
            raise InvalidInput(
                "the openai provider is not configured on this server (JOBDECK_OPENAI_API_KEY)"
            )
    async with runtime.db.read() as session:
        for dataset_id in filter(None, (body.dataset_id, body.validation_dataset_id)):
            try:
                await dataset_store.get_dataset(
                    session, organization_id=principal.organization_id, dataset_id=dataset_id
                )
            except NotFound:
                raise InvalidInput(f"dataset {dataset_id} not found in your organization") from None
    if body.provider == "local":
        job_type = "model-training"
        data = body.as_training()
    else:
        job_type = "fine-tuning"
        data = body.model_dump(mode="json", by_alias=True, exclude={"name"}, exclude_none=True)
    job, created = await runtime.control.create(
        principal,
        NewJob(type=job_type, name=body.name, data=data),
        idempotency_key=idempotency_key,
    )

    async def work(session: AsyncSession) -> FineTuning:
        await ft_store.ensure_fine_tuning(session, values=ft_store.record_values(job), now=utcnow())
        return await ft_store.get_fine_tuning(
            session, organization_id=principal.organization_id, fine_tuning_id=job.id
        )

    record = await runtime.db.transact(work)
    if not created:
        response.status_code = status.HTTP_200_OK
    return _public(record, [])


@router.get("/fine-tuning/jobs", response_model=FineTuningsPublic)
async def list_fine_tunings(runtime: RuntimeDep, principal: CurrentUser) -> FineTuningsPublic:
    """The organization's fine-tunes, newest first."""
    async with runtime.db.read() as session:
        records = await ft_store.list_fine_tunings(
            session, organization_id=principal.organization_id
        )
    return FineTuningsPublic(data=[_public(r, []) for r in records])


@router.get("/fine-tuning/jobs/{fine_tuning_id}", response_model=FineTuningPublic)
async def get_fine_tuning(
    fine_tuning_id: str, runtime: RuntimeDep, principal: CurrentUser
) -> FineTuningPublic:
    """One fine-tune with its provider job, metrics history, checkpoints and model."""
    async with runtime.db.read() as session:
        record = await ft_store.get_fine_tuning(
            session, organization_id=principal.organization_id, fine_tuning_id=fine_tuning_id
        )
        metrics = await ft_store.list_metrics(session, fine_tuning_id=record.id)
    return _public(record, metrics)


@router.get("/fine-tuning/providers", response_model=list[ProviderPublic])
async def providers(runtime: RuntimeDep, principal: CurrentUser) -> list[ProviderPublic]:
    """The providers this server can use, and their base models."""
    settings = runtime.settings
    ollama_models: list[str] = []
    try:
        async with asyncio.timeout(2), httpx.AsyncClient(base_url=settings.ollama_base_url) as c:
            tags = (await c.get("/api/tags")).json()
        ollama_models = sorted(m.get("name") or m.get("model") for m in tags.get("models", []))
        ollama_ok = True
    except (httpx.HTTPError, TimeoutError, ValueError):
        ollama_ok = False
    unable_to_train = await training_unavailable(runtime)
    return [
        ProviderPublic(
            name="openai",
            configured=settings.openai_api_key is not None,
            reason=None
            if settings.openai_api_key is not None
            else "set JOBDECK_OPENAI_API_KEY on the server",
            description=OPENAI_DESCRIPTION,
            base_models=list(MODELS),
        ),
        ProviderPublic(
            name="ollama",
            configured=ollama_ok,
            reason=None if ollama_ok else f"Ollama does not answer at {settings.ollama_base_url}",
            description=OLLAMA_DESCRIPTION,
            base_models=ollama_models,
        ),
        ProviderPublic(
            name="local",
            configured=unable_to_train is None,
            reason=unable_to_train,
            description=LOCAL_DESCRIPTION,
            base_models=_local_base_models(runtime.settings.base_models_root),
        ),
    ]


def _local_base_models(root: Path) -> list[str]:
    """Folders of the base-models directory that hold a transformers model."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "config.json").is_file())
