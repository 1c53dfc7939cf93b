"""Wire schemas of the operator's endpoints (issue 18): charts over time, task queues."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from jobdeck.api.schemas import Schema


class BucketPublic(Schema):
    start: datetime = Field(description="The bucket's first instant; it lasts bucketSeconds")
    created: int
    completed: int
    failed: int
    cancelled: int


class DurationsPublic(Schema):
    """Seconds from start to finish of the jobs of one type that finished in the range."""

    type: str
    count: int
    p50: float
    p90: float
    p99: float
    max: float
    approximate: bool = Field(
        description="true: read from per-bucket sketches (within about 1%), the range "
        "holding too many jobs to read each; false: exact"
    )


class TimeseriesPublic(Schema):
    range: str
    start: datetime
    end: datetime
    bucket_seconds: int
    type: str | None = Field(description="The job type asked for; null: every type")
    buckets: list[BucketPublic] = Field(description="Oldest first, every bucket (zeros too)")
    durations: list[DurationsPublic]


class PollerPublic(Schema):
    identity: str = Field(description="The worker's identity (pid@host by default)")
    last_access_time: datetime | None
    rate_per_second: float


class QueueSidePublic(Schema):
    kind: str = Field(description="workflow or activity tasks")
    pollers: list[PollerPublic]
    backlog: int = Field(description="Tasks waiting for a worker (Temporal's approximation)")
    backlog_age_seconds: float = Field(description="How long the oldest has waited")
    add_rate: float = Field(description="Tasks added per second, lately")
    dispatch_rate: float = Field(description="Tasks handed to workers per second, lately")
    backlog_by_priority: dict[str, int] = Field(
        description="The backlog by Temporal priority key (1 first), where there is one"
    )
    error: str | None = Field(default=None, description="Why Temporal could not describe it")


class QueuePublic(Schema):
    name: str
    role: str
    types: list[str] = Field(description="The job types whose work runs on it")
    sides: list[QueueSidePublic]
    jobs_waiting: int = Field(description="Your pending and active jobs of those types")
    warning: str | None = Field(
        default=None, description="Work waits and no worker polls for it: what to do"
    )


class RunningJobPublic(Schema):
    job_id: str
    name: str
    type: str
    step: str | None = Field(default=None, description="The step (activity) it waits on")
    attempt: int | None = None
    worker: str | None = Field(default=None, description="The worker running that step")
    state: str | None = None


class QueuesPublic(Schema):
    queues: list[QueuePublic]
    running: list[RunningJobPublic] = Field(description="Your newest running jobs (20)")
    checked_at: datetime
