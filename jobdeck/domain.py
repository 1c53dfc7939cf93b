"""Job vocabulary shared by workflows, activities, the store and the API.

Pure data: safe to import from workflow code (no I/O, no clock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    PENDING = "pending"  # created; the workflow has not picked it up yet
    ACTIVE = "active"  # the workflow is running its steps
    COMPLETED = "completed"  # ended with a result
    FAILED = "failed"  # ended with an error
    CANCELLED = "cancelled"  # ended on a cancel request

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class EventKind(StrEnum):
    CREATED = "created"
    STARTED = "started"
    PROGRESS = "progress"
    MESSAGE = "message"
    METRIC = "metric"
    ATTEMPT_FAILED = "attempt_failed"  # one try of a step failed; Temporal retries it
    CANCEL_REQUESTED = "cancel_requested"
    RETRIED = "retried"  # a new job was created from this one
    STUCK = "stuck"  # no progress or heartbeat past its type's threshold (issue 15)
    UNSTUCK = "unstuck"  # a stuck job moved again
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class Progress:
    """Typed progress, the same in the job row, events, the progress query and the API."""

    current: float = 0
    total: float | None = None
    unit: str = "steps"
    stage: str | None = None
    message: str | None = None
    rate: float | None = None  # units per second
    eta: float | None = None  # seconds left

    @property
    def percent(self) -> float | None:
        if not self.total:
            return None
        return round(min(100.0, max(0.0, 100.0 * self.current / self.total)), 2)

    def to_json(self) -> dict[str, Any]:
        return {
            "percent": self.percent,
            "current": self.current,
            "total": self.total,
            "unit": self.unit,
            "stage": self.stage,
            "message": self.message,
            "rate": self.rate,
            "eta": self.eta,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> Progress:
        if not raw:
            return cls()
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in raw.items() if k in names})


def with_rate(new: Progress, previous: Progress | None, elapsed_s: float | None) -> Progress:
    """Fill rate and ETA from the previous report, smoothing the rate so one slow step
    does not make the ETA jump."""
    if previous is None or elapsed_s is None or elapsed_s <= 0 or previous.unit != new.unit:
        return new
    delta = new.current - previous.current
    if delta < 0:
        return new
    instant = delta / elapsed_s
    rate = instant if previous.rate is None else 0.3 * instant + 0.7 * previous.rate
    new.rate = round(rate, 3)
    if new.total is not None and rate > 0:
        new.eta = round(max(0.0, (new.total - new.current) / rate), 1)
    return new


@dataclass
class JobErrorInfo:
    type: str
    message: str
    details: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message, "details": self.details}


@dataclass
class JobSpec:
    """What a job is: everything needed to (re)create its row. This is the workflow input,
    so it never holds secrets or file contents, and new fields always get defaults."""

    job_id: str
    organization_id: str
    user_id: str
    type: str
    name: str
    data: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    priority: int = 3
    retry_of: str | None = None
    idempotency_key: str | None = None
    created_at: str | None = None  # ISO time the API accepted it
    # The job that started this one (a pipeline run, a bulk operation), and the schedule
    # that fired it: links the dashboard and the API follow both ways.
    parent_id: str | None = None
    schedule_id: str | None = None
    # State a continued-as-new run picks up from (cursor, counters); None on the first run.
    resume: dict[str, Any] | None = None
    # How often workflow code may write progress (the API's setting when it was created).
    progress_interval_s: float | None = None
    # Jobs that must complete before this one starts (POST /api/jobs dependsOn); empty for
    # almost every job, whose workflow then runs exactly as before.
    depends_on: list[str] = field(default_factory=list)


@dataclass
class JobFilter:
    """Which jobs of an organization a list or a bulk operation means; empty matches all."""

    statuses: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    q: str | None = None
    ids: list[str] = field(default_factory=list)
    parent_id: str | None = None
    schedule_id: str | None = None
    # The jobs list's own filters (issue 18): priorities, owners (user ids) and a range of
    # creation times (aware datetimes; after is inclusive, before exclusive).
    priorities: list[int] = field(default_factory=list)
    user_ids: list[str] = field(default_factory=list)
    created_after: datetime | None = None
    created_before: datetime | None = None
