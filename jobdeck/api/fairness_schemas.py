"""Wire schemas for an organization's limits (camelCase JSON): LimitsPublic / LimitsUpdate."""

from __future__ import annotations

from pydantic import Field

from jobdeck.api.schemas import Schema
from jobdeck.api.text import StorableText


class ConcurrencyPublic(Schema):
    type: str | None = Field(description="The job type; null: all the organization's jobs")
    limit: int | None = Field(description="Jobs that may be active at once; null: no own limit")
    active: int = Field(description="Jobs holding a slot now")
    waiting: int = Field(description="Jobs pending in line for a slot")


class PendingPlace(Schema):
    job_id: str
    type: str
    priority: int
    ahead: int = Field(description="The organization's jobs in line before this one")


class RateLimitPublic(Schema):
    name: str = Field(description="What is counted, and per what: 'job creations per API key'")
    per_minute: float
    burst: int = Field(description="Requests a full bucket allows at once")
    remaining: int = Field(description="Requests the bucket allows right now")


class StorageQuotaPublic(Schema):
    limit: int | None = Field(
        description="Bytes of dataset and document files and of pipeline step outputs kept "
        "in file storage; null: none"
    )
    used: int = Field(description="Bytes stored now")


class QuotasPublic(Schema):
    storage: StorageQuotaPublic
    job_history_days: int | None = Field(
        description="Days an ended job's history is kept; null: for ever"
    )


class LimitsPublic(Schema):
    """The calling organization's limits, what it uses of them, and its line."""

    organization_id: str
    fairness_weight: float = Field(
        description="The organization's share of the workers against others' (1.0: equal)"
    )
    concurrency: list[ConcurrencyPublic]
    rate_limits: list[RateLimitPublic]
    websockets_per_key: int
    quotas: QuotasPublic
    pending: list[PendingPlace] = Field(
        description="Jobs waiting for a slot, first in line first (at most 100)"
    )


class LimitsUpdate(Schema, StorableText):
    """An admin's own limits for the organization; null resets one to the default."""

    active_jobs: int | None = Field(default=None, description="Active jobs at once, in all")
    by_type: dict[str, int | None] = Field(
        default_factory=dict, description="Active jobs at once per job type"
    )
    storage_bytes: int | None = Field(
        default=None,
        description="Storage quota: bytes of dataset and document files and of pipeline "
        "step outputs kept in file storage",
    )
    job_history_days: int | None = Field(
        default=None, description="Days an ended job's history is kept"
    )
