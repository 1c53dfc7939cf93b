"""The `data` each built-in job type accepts, checked at the HTTP edge before a job exists."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from jobdeck.domain import JobStatus


class _Data(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class JobFilterData(_Data):
    statuses: list[JobStatus] = Field(default_factory=list, max_length=5)
    types: list[str] = Field(default_factory=list, max_length=50)
    q: str | None = Field(default=None, max_length=200)
    ids: list[str] = Field(default_factory=list, max_length=10_000)


class BulkOperationData(_Data):
    action: Literal["cancel", "retry"]
    filter: JobFilterData = Field(default_factory=JobFilterData)
