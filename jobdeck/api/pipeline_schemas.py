"""Wire schemas of pipelines, their versions, runs and run steps (camelCase JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from jobdeck.api.schemas import Schema
from jobdeck.api.text import StorableText


class _Body(Schema, StorableText):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def _spec_field() -> Any:
    return Field(
        description="The spec (see GET /api/pipelines/schema) as an object, or as JSON or YAML text"
    )


class PipelineCreate(_Body):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    spec: dict[str, Any] | str = _spec_field()


class PipelineVersionCreate(_Body):
    spec: dict[str, Any] | str = _spec_field()
    description: str | None = Field(default=None, max_length=2000)


class PipelineLinks(Schema):
    self: str
    versions: str
    runs: str = Field(description="The pipeline's runs (workflow-execution jobs)")


class PipelinePublic(Schema):
    id: str
    name: str
    description: str | None
    latest_version: int
    archived: bool
    created_at: datetime
    updated_at: datetime
    spec: dict[str, Any] | None = Field(
        default=None, description="The latest version's spec (on GET of one pipeline)"
    )
    links: PipelineLinks


class PipelinesPublic(Schema):
    data: list[PipelinePublic]
    next_cursor: str | None = None


class PipelineVersionPublic(Schema):
    pipeline_id: str
    version: int
    spec: dict[str, Any]
    user_id: str
    created_at: datetime


class PipelineVersionsPublic(Schema):
    data: list[PipelineVersionPublic]


class PipelineRunCreate(_Body):
    inputs: dict[str, Any] = Field(default_factory=dict)
    version: int | None = Field(default=None, ge=1, description="Default: the latest")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    priority: int = Field(default=3, ge=1, le=5)


class RerunCreate(_Body):
    from_step: str = Field(min_length=1, max_length=64)


class StepDecisionBody(_Body):
    note: str | None = Field(default=None, max_length=2000)


class StepDecided(Schema):
    step_id: str
    approved: bool


class RunStepPublic(Schema):
    step_id: str
    kind: str
    status: str
    attempts: int
    output: Any = Field(
        default=None,
        description='The output; a large one reads {"$blob": ..., "bytes": n}: GET .../output',
    )
    error: dict[str, Any] | None
    reason: str | None
    child_job_id: str | None
    details: dict[str, Any] | None
    started_at: datetime | None
    finished_at: datetime | None
    name: str | None = Field(default=None, description="The step's name in the spec")
    depends_on: list[str] = Field(
        default_factory=list,
        description="The steps it waits for: its dependsOn and those its values and `if` read",
    )
    input: dict[str, Any] | None = Field(
        default=None,
        description="Its fields as in the spec (how it runs left out), references resolved "
        "once it has started",
    )
    input_resolved: bool = Field(
        default=False,
        description="False: `input` is as written (not started yet, or it reads into a large "
        "output)",
    )


class RunStepsPublic(Schema):
    data: list[RunStepPublic]
