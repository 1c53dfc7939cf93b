"""Wire schemas (camelCase JSON), in families: JobCreate / JobPublic / JobsPublic."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from jobdeck.api.text import StorableText
from jobdeck.store.accounts import Role
from jobdeck.store.dependencies import MAX_DEPENDENCIES


class Schema(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Problem(Schema):
    """An error: what went wrong, in words a person can act on."""

    detail: str


class FieldProblem(Schema):
    field: str = Field(description="Where: a body field (data.items[2].text), query.q, path")
    message: str


class ValidationProblem(Schema):
    """A 422: the request was understood but some of its input is not acceptable."""

    detail: str = Field(description="Every problem in one line: `field: message; ...`")
    errors: list[FieldProblem] = Field(
        default_factory=list,
        description="Each field at fault, when the problem is with given fields (absent "
        "when it is with the request as a whole, e.g. an unknown dataset format)",
    )


class JobCreate(Schema, StorableText):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    type: str = Field(description="Job type, e.g. bulk-operation")
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    data: dict[str, Any] = Field(default_factory=dict, description="Input of the job type")
    priority: int = Field(default=3, ge=1, le=5, description="1 runs first, 5 last")
    depends_on: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list,
        max_length=MAX_DEPENDENCIES,
        description="Ids of jobs of your organization that must complete first: the job "
        "stays pending, its progress saying what it waits for, until they have; if one "
        "fails or is cancelled, this job ends cancelled with that reason as its error. "
        "Each id once, not failed or cancelled already (409), existing (422)",
    )


class ProgressPublic(Schema):
    percent: float | None = None
    current: float = 0
    total: float | None = None
    unit: str = "steps"
    stage: str | None = None
    message: str | None = None
    rate: float | None = Field(default=None, description="units per second")
    eta: float | None = Field(default=None, description="seconds left")


class JobErrorPublic(Schema):
    type: str
    message: str
    details: Any = None


class JobStuckPublic(Schema):
    """The stuck-job watchdog's finding (jobdeck/activities/stuck.py), until it moves again."""

    reason: str = Field(description="no_progress (active) or pending (while workers are idle)")
    since: datetime = Field(description="Its last sign of life")


class Owner(Schema):
    user_id: str
    organization_id: str


class JobLinks(Schema):
    self: str
    events: str
    workflow: str = Field(description="This job's workflow in the Temporal Web UI")
    retry_of: str | None = None
    parent: str | None = Field(default=None, description="The job that started this one")
    children: str = Field(description="The jobs this one started (a pipeline's steps)")


class JobPublic(Schema):
    id: str
    type: str
    name: str
    description: str | None
    status: str
    priority: int
    data: dict[str, Any]
    progress: ProgressPublic | None
    result: dict[str, Any] | None
    error: JobErrorPublic | None
    attempts: int
    retry_of: str | None
    parent_id: str | None = Field(
        default=None, description="The job that started this one (a pipeline run, a bulk one)"
    )
    schedule_id: str | None = Field(default=None, description="The schedule that fired it")
    depends_on: list[str] = Field(
        default_factory=list, description="The jobs it waits for (dependsOn when created)"
    )
    owner: Owner
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration: float | None = Field(description="seconds; still growing while active")
    stuck: JobStuckPublic | None = Field(
        default=None, description="Set while the watchdog finds it stuck (`stuck` event)"
    )
    links: JobLinks


class JobsPublic(Schema):
    data: list[JobPublic]
    next_cursor: str | None = None
    total: int | None = Field(
        default=None, description="Jobs matching the filter, on every page (with ?count=true)"
    )
    total_capped: bool = Field(
        default=False,
        description="true: more than `total` jobs match (a count stops at 10,000)",
    )


class JobStats(Schema):
    total: int
    pending: int
    active: int
    completed: int
    failed: int
    cancelled: int


class JobEventPublic(Schema):
    id: int
    job_id: str
    kind: str
    data: dict[str, Any]
    created_at: datetime


class JobEventsPublic(Schema):
    data: list[JobEventPublic]
    next_after: int


class JobLogLinePublic(Schema):
    id: int
    time: datetime
    level: str
    message: str
    step: str | None
    attempt: int | None


class JobLogsPublic(Schema):
    data: list[JobLogLinePublic]
    next_after: int


class JobTypePublic(Schema):
    name: str
    description: str
    startable: bool = Field(
        description="false: only jobdeck starts jobs of this type (a pipeline's map step); "
        "POST /api/jobs refuses it"
    )
    input_schema: dict[str, Any] = Field(
        default_factory=dict,
        description="JSON Schema of the type's `data` (what POST /api/jobs checks it against)",
    )


class Me(Schema):
    user_id: str
    organization_id: str
    role: Role


class UserCreate(Schema, StorableText):
    email: str = Field(min_length=3, max_length=320)
    name: str = Field(min_length=1, max_length=200)
    role: Role = Role.MEMBER


class UserPublic(Schema):
    id: str
    email: str
    name: str
    role: Role
    created_at: datetime


class UsersPublic(Schema):
    data: list[UserPublic]
    next_cursor: str | None = None


class ApiKeyCreate(Schema, StorableText):
    name: str = Field(min_length=1, max_length=200)
    user_id: str | None = Field(default=None, description="Admins may create keys for others")


class ApiKeyPublic(Schema):
    id: str
    name: str
    user_id: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeysPublic(Schema):
    data: list[ApiKeyPublic]
    next_cursor: str | None = None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The key itself, shown only this once")
