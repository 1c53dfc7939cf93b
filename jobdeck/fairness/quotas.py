"""An organization's quotas: the bytes of files it may store (datasets, documents, and
pipeline step outputs large enough to be kept in file storage), and the days its ended
jobs' history is kept. Settings give the defaults (0: none); an admin's overrides, stored
with its concurrency limits, replace them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from jobdeck.config import Settings
from jobdeck.errors import InvalidInput

STORAGE_BYTES = "storage_bytes"
JOB_HISTORY_DAYS = "job_history_days"
# Far past any disk, and within a 64-bit column.
MAX_STORAGE_BYTES = 2**62
MAX_HISTORY_DAYS = 36_500


@dataclass(frozen=True)
class Quotas:
    """One organization's quotas in force (None: none)."""

    storage_bytes: int | None
    job_history_days: int | None

    @classmethod
    def of(cls, settings: Settings, overrides: Mapping[str, int]) -> Quotas:
        storage = overrides.get(STORAGE_BYTES, settings.quota_storage_bytes)
        days = overrides.get(JOB_HISTORY_DAYS, settings.quota_job_history_days)
        return cls(storage_bytes=storage or None, job_history_days=days or None)


def check_quota(name: str, value: int, *, unit: str, most: int) -> int:
    """A quota an admin sets: a whole number of `unit`, at least 1."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be a whole number of {unit}")
    if value < 1:
        raise InvalidInput(
            f"{name} must be at least 1 (got {value}); to go back to the default, send null"
        )
    if value > most:
        raise InvalidInput(f"{name} must be at most {most} (got {value})")
    return value


def storage_refusal(*, quota: int, usage: int, adding: int, what: str = "this upload") -> str:
    return (
        f"the organization's storage quota of {quota:,} bytes would be exceeded: "
        f"{usage:,} bytes are stored and {what} adds {adding:,}; delete datasets, "
        "documents or old pipeline runs, or ask an admin for a larger quota"
    )
