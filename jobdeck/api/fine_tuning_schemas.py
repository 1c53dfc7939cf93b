"""Wire schemas of fine-tuning jobs, providers and models (camelCase, as the frontend expects)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from jobdeck.api.schemas import Schema
from jobdeck.api.text import StorableText
from jobdeck.inputs import FineTuningData, PublishOptions


class FineTuningCreate(FineTuningData, StorableText):
    name: str = Field(min_length=1, max_length=200)


class PublishBody(PublishOptions, StorableText):
    """The body of POST /api/models/{id}/publish."""


class MetricPoint(Schema):
    step: int
    total_steps: int | None
    values: dict[str, Any]


class FineTuningPublic(Schema):
    id: str
    job_id: str
    name: str
    provider: str
    provider_label: str
    provider_options: list[str] = Field(description="As the provider's options")
    base_model: str
    dataset_id: str
    validation_dataset_id: str | None
    hyperparameters: dict[str, Any]
    suffix: str | None
    status: str = Field(description="validating, queued, training, succeeded, failed, ...")
    provider_status: str | None
    provider_job_id: str | None
    provider_files: dict[str, Any] | None
    trained_tokens: int | None
    metrics: list[MetricPoint] = Field(default_factory=list)
    checkpoints: list[dict[str, Any]] = Field(default_factory=list)
    fine_tuned_model: str | None
    model_id: str | None
    error: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class FineTuningsPublic(Schema):
    data: list[FineTuningPublic]
    next_cursor: str | None = None


class ProviderPublic(Schema):
    name: str
    label: str
    configured: bool
    reason: str | None = Field(default=None, description="What it needs when not configured")
    description: str
    base_models: list[str]
    options: list[str] = Field(
        description="The request sections it takes: hyperparameters, parameters, training"
    )
    job_type: str = Field(description="The job type its fine-tunes run as")
    no_models_hint: str = Field(description="What to do when baseModels is empty")


class ModelPublic(Schema):
    id: str
    name: str
    provider: str
    provider_label: str
    base_model: str
    dataset_id: str | None
    job_id: str | None
    details: dict[str, Any] | None
    files: list[str] = Field(default_factory=list, description="A trained adapter's files")
    created_at: datetime


class ModelsPublic(Schema):
    data: list[ModelPublic]
    next_cursor: str | None = None
