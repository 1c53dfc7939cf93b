"""The notification vocabulary shared by the store, the activities and the API: event
names, channel kinds, delivery statuses, and the delivery workflow's input and results."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# Every event a rule may ask for.
EVENTS: tuple[str, ...] = (
    "job.completed",
    "job.failed",
    "job.cancelled",
    "job.stuck",
    "schedule.missed",
    "pipeline.approval_waiting",
)

# The delivery workflow's registered name and the activities it calls (by name, so the
# code that starts deliveries imports no workflow).
DELIVERY_WORKFLOW = "notifications.deliver"


class ChannelKind(StrEnum):
    WEBHOOK = "webhook"  # Standard Webhooks 1.0, signed with the channel's whsec_ secret
    SLACK = "slack"  # a Slack incoming webhook URL
    DISCORD = "discord"  # a Discord webhook URL
    EMAIL = "email"  # SMTP, STARTTLS where the server offers it


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its first or next try
    DELIVERED = "delivered"  # the receiver accepted it (2xx, or SMTP accepted)
    FAILED = "failed"  # every try of the schedule failed, or the receiver refused it for good
    SKIPPED = "skipped"  # its channel was disabled or deleted before it could go


@dataclass
class DeliveryInput:
    """The delivery workflow's input: ids only (the activity reads the rest, secrets
    included, from the database)."""

    delivery_id: str


@dataclass
class AttemptOutcome:
    """One try's result: done (delivered, or never to be tried again), or the delay the
    activity chose (backoff with jitter, or a receiver's retry_after) before the next."""

    done: bool
    retry_in_s: float | None = None
