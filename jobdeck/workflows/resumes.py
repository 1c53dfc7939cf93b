"""Where a continued-as-new run of a job workflow goes on from: one model per job type
that continues as new (see `JobWorkflow.resumed` / `continue_as_new`).

They live here, not in their workflows' modules, because the sandbox imports a workflow's
module afresh for every run, and building a pydantic class costs about a millisecond each
time; this module is passed through the sandbox (worker.SHARED_WORKFLOW_MODULES), so they
are built once per worker.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from jobdeck.activities.bulk import BulkCounts, BulkPlan
from jobdeck.workflows.items import ItemRun

_CAMEL = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class BulkResume(BaseModel):
    """A bulk operation begun before the item runner, by pages."""

    model_config = _CAMEL
    plan: BulkPlan
    counts: BulkCounts = Field(default_factory=BulkCounts)
    cursor: str | None = None
    new_job_ids: list[str] = Field(default_factory=list)


class BulkItemResume(BaseModel):
    """A bulk operation on the item runner."""

    model_config = _CAMEL
    created_before: str
    items: ItemRun


class DocumentsResume(BaseModel):
    model_config = _CAMEL
    items: ItemRun


class MapResume(BaseModel):
    """A pipeline's map step (its items on the item runner, or its window of child jobs)."""

    model_config = _CAMEL
    items: ItemRun


class PollingResume(BaseModel):
    """A fine-tuning job polling its provider."""

    model_config = _CAMEL
    provider_job_id: str | None = None
    last_event_id: str | None = None
