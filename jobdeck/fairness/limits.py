"""The concurrency limits of an organization: settings give the defaults, an admin's
overrides (stored per organization) replace them, and a job counts against two of them:
its organization's active jobs, and its organization's active jobs of its type."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from jobdeck.config import Settings
from jobdeck.errors import InvalidInput

ACTIVE_JOBS = "active_jobs"
_BY_TYPE = "active_jobs:"
# The largest value a limit may take: far past any real need, small enough for every column.
MAX_LIMIT = 100_000
WAITING_MESSAGE = "waiting for a slot"


def type_limit_name(job_type: str) -> str:
    return f"{_BY_TYPE}{job_type}"


def waiting_message(ahead: int) -> str:
    """What a pending job's progress says while it waits in line."""
    return f"{WAITING_MESSAGE} ({ahead} ahead)"


@dataclass(frozen=True)
class Limits:
    """One organization's concurrency limits in force."""

    active_jobs: int
    by_type: dict[str, int] = field(default_factory=dict)

    def for_type(self, job_type: str) -> int | None:
        return self.by_type.get(job_type)

    @classmethod
    def of(cls, settings: Settings, overrides: Mapping[str, int]) -> Limits:
        by_type = dict(settings.limit_active_jobs_by_type)
        for name, value in overrides.items():
            if name.startswith(_BY_TYPE):
                by_type[name[len(_BY_TYPE) :]] = value
        return cls(
            active_jobs=overrides.get(ACTIVE_JOBS, settings.limit_active_jobs), by_type=by_type
        )


def check_limit(name: str, value: int) -> int:
    """A limit an admin sets: a whole number of jobs, at least 1."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be a whole number of jobs")
    if value < 1:
        raise InvalidInput(
            f"{name} must be at least 1 (got {value}): a limit of 0 would keep every job "
            "pending for ever; to stop jobs, cancel them"
        )
    if value > MAX_LIMIT:
        raise InvalidInput(f"{name} must be at most {MAX_LIMIT} (got {value})")
    return value


def fairness_weight(settings: Settings, organization_id: str) -> float:
    """The organization's share of the task queues against others' (Temporal clamps it to
    0.001-1000)."""
    return settings.fairness_weights.get(organization_id, 1.0)
