"""Turning store rows into wire schemas: the one place each row kind gets its public shape."""

from __future__ import annotations

from datetime import UTC, datetime

from jobdeck.activities.fine_tuning.providers import PROVIDERS
from jobdeck.api.dataset_schemas import DatasetLinks, DatasetPublic
from jobdeck.api.fine_tuning_schemas import FineTuningPublic, MetricPoint, ModelPublic
from jobdeck.api.schemas import (
    ApiKeyPublic,
    JobLinks,
    JobPublic,
    JobStuckPublic,
    Owner,
    UserPublic,
)
from jobdeck.config import Settings
from jobdeck.store.tables import (
    ApiKey,
    Dataset,
    FineTuning,
    FineTuningMetric,
    Job,
    Model,
    StuckJob,
    User,
)


def job_public(job: Job, settings: Settings, stuck: StuckJob | None = None) -> JobPublic:
    end = job.finished_at or (datetime.now(UTC) if job.started_at else None)
    duration = (end - job.started_at).total_seconds() if job.started_at and end else None
    return JobPublic(
        id=job.id,
        type=job.type,
        name=job.name,
        description=job.description,
        status=job.status,
        priority=job.priority,
        data=job.data,
        progress=job.progress,  # type: ignore[arg-type]
        result=job.result,
        error=job.error,  # type: ignore[arg-type]
        attempts=job.attempts,
        retry_of=job.retry_of,
        parent_id=job.parent_id,
        schedule_id=job.schedule_id,
        depends_on=job.depends_on or [],
        owner=Owner(user_id=job.user_id, organization_id=job.organization_id),
        created_at=job.created_at,
        updated_at=job.updated_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        duration=round(duration, 3) if duration is not None else None,
        stuck=JobStuckPublic(reason=stuck.reason, since=stuck.since) if stuck else None,
        links=JobLinks(
            self=f"/api/jobs/{job.id}",
            events=f"/api/jobs/{job.id}/events",
            workflow=settings.workflow_url(job.id),
            retry_of=f"/api/jobs/{job.retry_of}" if job.retry_of else None,
            parent=f"/api/jobs/{job.parent_id}" if job.parent_id else None,
            children=f"/api/jobs?parent={job.id}",
        ),
    )


def dataset_public(dataset: Dataset) -> DatasetPublic:
    return DatasetPublic(
        id=dataset.id,
        name=dataset.name,
        format=dataset.format,
        size_bytes=dataset.size_bytes,
        row_count=dataset.row_count,
        sha256=dataset.sha256,
        owner=Owner(user_id=dataset.user_id, organization_id=dataset.organization_id),
        created_at=dataset.created_at,
        source_dataset_id=dataset.source_dataset_id,
        source_collection_id=dataset.source_collection_id,
        job_id=dataset.job_id,
        details=dataset.details,
        validation=dataset.validation,
        links=DatasetLinks(
            self=f"/api/datasets/{dataset.id}",
            download=f"/api/datasets/{dataset.id}/download",
            source=(
                f"/api/datasets/{dataset.source_dataset_id}" if dataset.source_dataset_id else None
            ),
            job=f"/api/jobs/{dataset.job_id}" if dataset.job_id else None,
            collection=(
                f"/api/collections/{dataset.source_collection_id}"
                if dataset.source_collection_id
                else None
            ),
        ),
    )


def model_public(model: Model) -> ModelPublic:
    files = sorted((model.details or {}).get("adapterFiles") or {})
    return ModelPublic(
        id=model.id,
        name=model.name,
        provider=model.provider,
        provider_label=PROVIDERS.label(model.provider),
        base_model=model.base_model,
        dataset_id=model.dataset_id,
        job_id=model.job_id,
        details=model.details,
        files=[f"/api/models/{model.id}/files/{name}" for name in files],
        created_at=model.created_at,
    )


def fine_tuning_public(record: FineTuning, metrics: list[FineTuningMetric]) -> FineTuningPublic:
    return FineTuningPublic(
        id=record.id,
        job_id=record.id,
        name=record.name,
        provider=record.provider,
        provider_label=PROVIDERS.label(record.provider),
        provider_options=PROVIDERS.options(record.provider),
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


def user_public(user: User) -> UserPublic:
    return UserPublic.model_validate(user, from_attributes=True)


def key_public(key: ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic.model_validate(key, from_attributes=True)
