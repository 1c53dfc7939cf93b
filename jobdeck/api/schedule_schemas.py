"""Wire schemas for schedules (camelCase JSON): ScheduleCreate / SchedulePublic /
SchedulesPublic."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from jobdeck.api.schemas import Schema
from jobdeck.api.text import StorableText
from jobdeck.errors import InvalidInput
from jobdeck.schedules.definition import (
    Overlap,
    ScheduleDefinition,
    ScheduledJob,
    ScheduledPipeline,
)


class ScheduledJobBody(Schema, StorableText):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    type: str = Field(description="Job type, e.g. data-conversion")
    name: str = Field(min_length=1, max_length=200, description="Each run's job name")
    description: str | None = Field(default=None, max_length=2000)
    data: dict[str, Any] = Field(default_factory=dict, description="Input of the job type")
    priority: int = Field(default=3, description="1 runs first, 5 last")


class ScheduledPipelineBody(Schema, StorableText):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    id: str = Field(min_length=1, max_length=36, description="The saved pipeline's id")
    inputs: dict[str, Any] = Field(
        default_factory=dict, description="Each run's inputs, checked against the version"
    )
    version: int | None = Field(
        default=None, ge=1, description="The version every run uses; default: the latest now"
    )
    name: str | None = Field(
        default=None, max_length=200, description="Each run's job name; default: the pipeline's"
    )
    description: str | None = Field(default=None, max_length=2000)
    priority: int = Field(default=3, description="1 runs first, 5 last")


class ScheduleCreate(Schema, StorableText):
    """A schedule: the job it fires (`job`) or the saved pipeline it runs (`pipeline`),
    and either `cron` or `interval`."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    job: ScheduledJobBody | None = Field(default=None, description="The job each run is")
    pipeline: ScheduledPipelineBody | None = Field(
        default=None, description="Or: the saved pipeline each run runs"
    )
    cron: str | None = Field(
        default=None,
        max_length=200,
        description="Five fields (minute hour day-of-month month day-of-week) or a macro "
        "(@hourly, @daily, @weekly, @monthly, @yearly), in `timezone`",
    )
    interval: int | None = Field(default=None, description="Seconds between runs")
    timezone: str = Field(default="UTC", max_length=64, description="IANA name: Europe/Berlin")
    overlap: Overlap = Field(
        default=Overlap.SKIP, description="What a run does while the previous one still runs"
    )
    catchup_window: int | None = Field(
        default=None,
        description="Seconds: runs missed for longer (Temporal down) are skipped, not fired "
        "late; default 600",
    )
    jitter: int = Field(default=0, description="Seconds: each run starts up to this much later")
    paused: bool = False
    note: str | None = Field(default=None, max_length=1000, description="Why it is paused")
    end_at: datetime | None = Field(default=None, description="No run after this time")
    remaining_runs: int | None = Field(default=None, description="Stop after this many runs")

    def definition(self) -> ScheduleDefinition:
        if (self.job is None) == (self.pipeline is None):
            raise InvalidInput(
                "give either job or pipeline, not both"
                if self.job is not None
                else "give what each run is: job {type, name, data} or pipeline {id, inputs}"
            )
        if self.pipeline is not None:
            p = self.pipeline
            job = ScheduledJob(
                type="", name=p.name or "", priority=p.priority, description=p.description
            )
            pipeline = ScheduledPipeline(id=p.id, inputs=p.inputs, version=p.version)
        else:
            assert self.job is not None
            job = ScheduledJob(
                type=self.job.type,
                name=self.job.name,
                data=self.job.data,
                priority=self.job.priority,
                description=self.job.description,
            )
            pipeline = None
        return ScheduleDefinition(
            job=job,
            pipeline=pipeline,
            cron=self.cron,
            interval_s=self.interval,
            timezone=self.timezone,
            overlap=self.overlap,
            catchup_window_s=self.catchup_window,
            jitter_s=self.jitter,
            end_at=self.end_at,
            remaining_runs=self.remaining_runs,
        )


class ScheduleUpdate(ScheduleCreate):
    """The schedule's whole definition again; `paused` left out keeps the current state."""

    paused: bool | None = None  # type: ignore[assignment]


class ScheduleNote(Schema, StorableText):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    note: str | None = Field(default=None, max_length=1000)


class ScheduleBackfillBody(Schema, StorableText):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    start: datetime
    end: datetime
    overlap: Overlap = Field(
        default=Overlap.BUFFER_ALL, description="How the backfilled runs overlap; one by one"
    )


class ScheduleBackfillPublic(Schema):
    runs: int = Field(description="How many runs the range held (each becomes a job)")


class ScheduledJobPublic(Schema):
    type: str
    name: str
    description: str | None = None
    data: dict[str, Any]
    priority: int


class ScheduledPipelinePublic(Schema):
    id: str
    version: int = Field(description="The version every run uses (pinned when saved)")
    inputs: dict[str, Any] = Field(description="Each run's inputs, defaults filled in")
    pipeline: str = Field(description="The pipeline's URL")


class ScheduleRunPublic(Schema):
    job_id: str | None = Field(
        default=None, description="The run's job; null: the run was refused and started none"
    )
    scheduled_at: datetime | None = None
    started_at: datetime | None = None
    status: str | None = Field(
        default=None,
        description="The job's status, or `refused`: the run fired but its checks (those "
        "of POST /api/jobs) refused it, so it started no job (see reason); null: not "
        "recorded yet (its checks have not answered)",
    )
    reason: str | None = Field(
        default=None,
        description="Why the run was refused: organization_gone, owner_gone, owner_revoked "
        "or job_refused, as in `missed`; null unless refused",
    )
    message: str | None = Field(
        default=None, description="The refusal in words, as in `missed`; null unless refused"
    )
    job: str | None = Field(default=None, description="The job's URL; null: refused, no job")


class ScheduleMissPublic(Schema):
    reason: str = Field(
        description="catchup_window or overlap (Temporal did not fire it), or why the run "
        "was refused when it fired: organization_gone, owner_gone, owner_revoked or "
        "job_refused (the checks of POST /api/jobs)"
    )
    message: str
    count: int
    detected_at: datetime


class ScheduleRunCounts(Schema):
    total: int | None = Field(
        description="Runs Temporal fired so far, not counting triggers, which start their "
        "job without it (null: Temporal not reachable)"
    )
    missed_catchup_window: int | None
    skipped_overlap: int | None
    running: int | None


class ScheduleLinks(Schema):
    self: str
    jobs: str = Field(description="The jobs this schedule fired")
    temporal: str = Field(description="The schedule in the Temporal Web UI")


class SchedulePublic(Schema):
    id: str
    name: str
    state: str = Field(
        description="active, paused, missing (Temporal does not know it: delete it), or "
        "unknown (Temporal not reachable now)"
    )
    note: str | None = None
    job: ScheduledJobPublic = Field(description="The job each run is (a pipeline's: its run)")
    pipeline: ScheduledPipelinePublic | None = Field(
        default=None, description="The saved pipeline each run runs; null: a job schedule"
    )
    cron: str | None = None
    cron_text: str | None = Field(default=None, description="The cron in words")
    interval: int | None = None
    timezone: str
    overlap: str
    catchup_window: int
    jitter: int
    end_at: datetime | None = None
    remaining_runs: int | None = Field(default=None, description="Runs left; null: no limit")
    next_runs: list[datetime] = Field(default_factory=list, description="The next 5 run times")
    last_runs: list[ScheduleRunPublic] = Field(default_factory=list)
    missed: list[ScheduleMissPublic] = Field(default_factory=list)
    runs: ScheduleRunCounts
    created_at: datetime
    updated_at: datetime
    links: ScheduleLinks


class SchedulesPublic(Schema):
    data: list[SchedulePublic]
    next_cursor: str | None = None


class CronPreview(Schema):
    cron: str = Field(description="The expression as it will be stored")
    text: str = Field(description="The cron in words")
    timezone: str
    next_runs: list[datetime]
