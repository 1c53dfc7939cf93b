"""Wire schemas for datasets (camelCase JSON): DatasetPublic / DatasetsPublic."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from jobdeck.api.schemas import Owner, Schema
from jobdeck.api.text import StorableText
from jobdeck.fine_tuning_models import DEFAULT_MODEL


class DatasetLinks(Schema):
    self: str
    download: str
    source: str | None = Field(default=None, description="The dataset this one was made from")
    collection: str | None = Field(default=None, description="The collection whose chunks it holds")
    job: str | None = Field(default=None, description="The job that made it")


class DatasetPublic(Schema):
    id: str
    name: str
    format: str
    size_bytes: int
    row_count: int | None = Field(description="null until a job has read the file through")
    sha256: str
    owner: Owner
    created_at: datetime
    source_dataset_id: str | None = Field(description="Lineage: the dataset converted")
    source_collection_id: str | None = Field(
        default=None, description="Lineage: the collection whose chunks it holds"
    )
    job_id: str | None = Field(description="Lineage: the job that produced this dataset")
    details: dict[str, Any] | None = Field(
        description="What reading it found: columns, encoding, delimiter, sheet"
    )
    validation: dict[str, Any] | None = Field(
        description="The fine-tuning validation report, once a conversion or validation ran"
    )
    links: DatasetLinks


class DatasetsPublic(Schema):
    data: list[DatasetPublic]
    next_cursor: str | None = None


class DatasetValidate(Schema, StorableText):
    model: str = Field(default=DEFAULT_MODEL, description="Fine-tuning model: tokenizer, price")
    epochs: int | None = Field(default=None, ge=1, le=50, description="Default: OpenAI's rule")
