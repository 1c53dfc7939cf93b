"""Fine-tuning jobs and their providers (read from the provider registry)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from jobdeck.activities.fine_tuning.provider import FineTuningProvider
from jobdeck.activities.fine_tuning.providers import PROVIDERS
from jobdeck.api.deps import CurrentUser, FineTuningDep, RuntimeDep
from jobdeck.api.fine_tuning_schemas import (
    FineTuningCreate,
    FineTuningPublic,
    FineTuningsPublic,
    ProviderPublic,
)
from jobdeck.api.ratelimit import RATE_LIMITED, CreationLimit
from jobdeck.api.views import fine_tuning_public
from jobdeck.errors import Unavailable
from jobdeck.runtime import Runtime
from jobdeck.store import fine_tuning as ft_store
from jobdeck.store import pages

router = APIRouter(prefix="/api", tags=["fine-tuning"])


@router.post(
    "/fine-tuning/jobs",
    status_code=status.HTTP_201_CREATED,
    response_model=FineTuningPublic,
    dependencies=[CreationLimit],  # counted before anything is read or written
    responses=RATE_LIMITED,
)
async def create_fine_tuning(
    body: FineTuningCreate,
    fine_tuning: FineTuningDep,
    principal: CurrentUser,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> FineTuningPublic:
    """Start a fine-tune; returns its record with the id of its background job."""
    record, created = await fine_tuning.create(
        principal, body, name=body.name, idempotency_key=idempotency_key
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return fine_tuning_public(record, [])


@router.get("/fine-tuning/jobs", response_model=FineTuningsPublic)
async def list_fine_tunings(
    runtime: RuntimeDep,
    principal: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=pages.MAX_PAGE)] = pages.DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> FineTuningsPublic:
    """The organization's fine-tunes, newest first, paginated by cursor."""
    async with runtime.db.read() as session:
        records, next_cursor = await ft_store.list_fine_tunings(
            session, organization_id=principal.organization_id, limit=limit, cursor=cursor
        )
    return FineTuningsPublic(
        data=[fine_tuning_public(r, []) for r in records], next_cursor=next_cursor
    )


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
    return fine_tuning_public(record, metrics)


async def _status_of(
    provider: FineTuningProvider, runtime: Runtime
) -> tuple[list[str], str | None]:
    """A provider's models and why it cannot be used; a check that cannot be made now
    (Temporal did not answer) is that reason, so one provider does not fail the list."""
    try:
        return await provider.status(runtime)
    except Unavailable as err:
        return [], str(err)


@router.get("/fine-tuning/providers", response_model=list[ProviderPublic])
async def providers(runtime: RuntimeDep, principal: CurrentUser) -> list[ProviderPublic]:
    """The providers this server knows, whether each can be used, and their base models."""
    found = await asyncio.gather(*(_status_of(p, runtime) for p in PROVIDERS))
    return [
        ProviderPublic(
            name=p.name,
            label=p.label,
            configured=reason is None,
            reason=reason,
            description=p.description,
            base_models=models,
            options=list(p.options),
            job_type=p.job_type,
            no_models_hint=p.no_models_hint,
        )
        for p, (models, reason) in zip(PROVIDERS, found, strict=True)
    ]
