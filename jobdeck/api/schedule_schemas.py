"""Wire schemas for schedules (camelCase JSON): ScheduleCreate / SchedulePublic /
SchedulesPublic."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from jobdeck.api.schemas import Schema
from jobdeck.api.text import StorableText
from jobdeck.schedules.definition import Overlap, ScheduleDefinition, ScheduledJob


class ScheduledJobBody(Schema, StorableText):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    type: str = Field(description="Job type, e.g. data-conversion")
    name: str = Field(min_length=1, max_length=200, description="Each run's job name")
    description: str | None = Field(default=None, max_length=2000)
    data: dict[str, Any] = Field(default_factory=dict, description="Input of the job type")
    priority: int = Field(default=3, description="1 runs first, 5 last")


class ScheduleCreate(Schema, StorableText):
    """A schedule: the job it fires, and either `cron` or `interval`."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    job: ScheduledJobBody
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
        return ScheduleDefinition(
            job=ScheduledJob(
                type=self.job.type,
                name=self.job.name,
                data=self.job.data,
                priority=self.job.priority,
                description=self.job.description,
            ),
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


class ScheduleRunPublic(Schema):
    job_id: str
    scheduled_at: datetime | None = None
    started_at: datetime | None = None
    status: str | None = Field(default=None, description="The job's status; null: not recorded yet")
    job: str = Field(description="The job's URL")


class ScheduleMissPublic(Schema):
    reason: str = Field(description="catchup_window or overlap")
    message: str
    count: int
    detected_at: datetime


class ScheduleRunCounts(Schema):
    total: int | None = Field(description="Runs fired so far (null: Temporal not reachable)")
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
    job: ScheduledJobPublic
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
