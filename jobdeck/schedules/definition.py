"""What a schedule is: the job it fires (or the saved pipeline it runs), when (a cron in
a time zone, or an interval), and Temporal's policies (overlap, catch-up window, jitter)
and limits (end time, runs left).

The definition is stored as given (camelCase JSON, see `to_json`) and turned into a
Temporal Schedule by the services layer."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from jobdeck.errors import InvalidInput
from jobdeck.schedules.cron import check_cron, check_timezone

# Temporal refuses a catch-up window under 10 s.
MIN_CATCHUP_WINDOW_S = 10
MAX_INTERVAL_S = 366 * 24 * 3600
_ID_ALPHABET = string.ascii_lowercase + string.digits


class Overlap(StrEnum):
    """What a run does when the previous one is still going (Temporal's overlap policies)."""

    SKIP = "skip"  # the new run is skipped (counted as skipped)
    BUFFER_ONE = "bufferOne"  # one run waits for the current one; more are skipped
    BUFFER_ALL = "bufferAll"  # every run waits its turn
    CANCEL_OTHER = "cancelOther"  # the running job is cancelled, then the new one starts
    TERMINATE_OTHER = "terminateOther"  # the running job is terminated at once
    ALLOW_ALL = "allowAll"  # runs overlap freely


def new_schedule_id() -> str:
    """'sc' and 13 random characters: short enough that a fired job's id, this id plus
    Temporal's '-2026-12-06T02:30:00Z', fits the 36 characters of a job id."""
    return "sc" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(13))


def is_schedule_id(value: str) -> bool:
    return len(value) == 15 and value.startswith("sc") and set(value) <= set(_ID_ALPHABET)


@dataclass
class ScheduledJob:
    type: str
    name: str
    data: dict[str, Any] = field(default_factory=dict)
    priority: int = 3
    description: str | None = None


@dataclass
class ScheduledPipeline:
    """A saved pipeline a schedule runs: each run is a workflow-execution job (`job`
    holds it once checked), pinned to `version` (the latest when the schedule was saved,
    unless given) with `inputs` checked against that version."""

    id: str
    inputs: dict[str, Any] = field(default_factory=dict)
    version: int | None = None


@dataclass
class ScheduleDefinition:
    job: ScheduledJob
    cron: str | None = None
    interval_s: int | None = None
    timezone: str = "UTC"
    overlap: Overlap = Overlap.SKIP
    catchup_window_s: int | None = None  # None: the deployment's default
    jitter_s: int = 0
    end_at: datetime | None = None
    remaining_runs: int | None = None
    pipeline: ScheduledPipeline | None = None  # set: `job` is the pipeline's run

    def checked(self, *, now: datetime, default_catchup_window_s: int) -> ScheduleDefinition:
        """This definition normalised, or InvalidInput naming the first field at fault.
        The job's data is checked by the job-type registry, not here."""
        if (self.cron is None) == (self.interval_s is None):
            raise InvalidInput(
                "give either cron (e.g. '30 2 * * *') or interval (seconds), not both"
                if self.cron is not None
                else "give when to run: cron (e.g. '30 2 * * *') or interval (seconds)"
            )
        cron = check_cron(self.cron) if self.cron is not None else None
        if self.interval_s is not None and not 1 <= self.interval_s <= MAX_INTERVAL_S:
            raise InvalidInput(
                f"interval: must be 1 to {MAX_INTERVAL_S} seconds, got {self.interval_s}"
            )
        check_timezone(self.timezone)
        catchup = (
            default_catchup_window_s if self.catchup_window_s is None else self.catchup_window_s
        )
        if catchup < MIN_CATCHUP_WINDOW_S:
            raise InvalidInput(f"catchupWindow: at least {MIN_CATCHUP_WINDOW_S} seconds")
        if self.jitter_s < 0:
            raise InvalidInput("jitter: must be 0 or more seconds")
        if self.end_at is not None:
            if self.end_at.tzinfo is None:
                raise InvalidInput("endAt: give a time zone, e.g. 2027-01-01T00:00:00Z")
            if self.end_at <= now:
                raise InvalidInput(f"endAt: {self.end_at.isoformat()} is in the past")
        if self.remaining_runs is not None and self.remaining_runs < 1:
            raise InvalidInput("remainingRuns: must be 1 or more")
        return replace(self, cron=cron, catchup_window_s=catchup)

    def to_json(self) -> dict[str, Any]:
        return {
            "job": {
                "type": self.job.type,
                "name": self.job.name,
                "data": self.job.data,
                "priority": self.job.priority,
                "description": self.job.description,
            },
            "cron": self.cron,
            "interval": self.interval_s,
            "timezone": self.timezone,
            "overlap": self.overlap.value,
            "catchupWindow": self.catchup_window_s,
            "jitter": self.jitter_s,
            "endAt": self.end_at.isoformat() if self.end_at else None,
            "remainingRuns": self.remaining_runs,
            "pipeline": (
                {
                    "id": self.pipeline.id,
                    "version": self.pipeline.version,
                    "inputs": self.pipeline.inputs,
                }
                if self.pipeline
                else None
            ),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ScheduleDefinition:
        job = raw["job"]
        pipeline = raw.get("pipeline")
        return cls(
            job=ScheduledJob(
                type=job["type"],
                name=job["name"],
                data=job.get("data") or {},
                priority=job.get("priority", 3),
                description=job.get("description"),
            ),
            cron=raw.get("cron"),
            interval_s=raw.get("interval"),
            timezone=raw.get("timezone") or "UTC",
            overlap=Overlap(raw.get("overlap") or Overlap.SKIP.value),
            catchup_window_s=raw.get("catchupWindow"),
            jitter_s=raw.get("jitter") or 0,
            end_at=datetime.fromisoformat(raw["endAt"]) if raw.get("endAt") else None,
            remaining_runs=raw.get("remainingRuns"),
            pipeline=(
                ScheduledPipeline(
                    id=pipeline["id"],
                    inputs=pipeline.get("inputs") or {},
                    version=pipeline.get("version"),
                )
                if pipeline
                else None
            ),
        )
