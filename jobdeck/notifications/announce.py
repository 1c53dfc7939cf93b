"""`announce`: the one door every notification event goes through.

It matches the organization's enabled rules and starts one durable delivery per matching
channel: a row in the delivery log and a Temporal workflow (`notifications.deliver`)
whose id comes from the delivery's, which comes from the channel and the event. So a
repeated announce of the same occurrence (a retried activity, a detector that runs twice)
finds the row and the workflow there and delivers nothing twice.

An occurrence is named by `payload["eventId"]` when the caller gives one (do, when the
payload holds values that change between two announces of the same occurrence, e.g. a
"stuck for N minutes" count); otherwise by the event, the job and the payload itself.

An organization with no enabled rule costs one indexed query that returns no row, and
then, for `notification_rules_cache_s`, not even that.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from jobdeck.clock import utcnow
from jobdeck.config import Settings
from jobdeck.errors import InvalidInput
from jobdeck.notifications.events import DELIVERY_WORKFLOW, EVENTS, DeliveryInput, DeliveryStatus
from jobdeck.store import notifications as store
from jobdeck.store.engine import Database
from jobdeck.store.tables import Job, NotificationRule

if TYPE_CHECKING:
    from jobdeck.runtime import Runtime

logger = logging.getLogger(__name__)


# Organizations found without an enabled rule, until when (monotonic), per database: a
# job's end then costs a dict lookup, not a query. A rule saved through this process
# clears its organization at once (`rules_changed`); other processes see it within
# notification_rules_cache_s.
_quiet: dict[tuple[str, str], float] = {}


def rules_changed(db: Database, organization_id: str) -> None:
    _quiet.pop((db.url, organization_id), None)


@dataclass(frozen=True)
class JobFacts:
    """What rules filter on."""

    type: str | None
    name: str | None
    priority: int | None


async def announce(
    runtime: Runtime,
    *,
    organization_id: str,
    event: str,
    job_id: str | None,
    payload: dict[str, Any],
) -> None:
    """Deliver `event` to every channel whose enabled rules match it (see module doc)."""
    await announce_with(
        runtime.db,
        runtime.settings,
        runtime.temporal,
        organization_id=organization_id,
        event=event,
        job_id=job_id,
        payload=payload,
    )


async def announce_with(
    db: Database,
    settings: Settings,
    temporal: Client,
    *,
    organization_id: str,
    event: str,
    job_id: str | None,
    payload: dict[str, Any],
    job: Job | None = None,
) -> list[str]:
    """`announce` for callers that hold the clients but no Runtime (the job-record
    activities); returns the ids of the deliveries it started."""
    if event not in EVENTS:
        raise InvalidInput(f"unknown notification event {event!r}; known: {', '.join(EVENTS)}")
    quiet_key = (db.url, organization_id)
    if _quiet.get(quiet_key, 0.0) > time.monotonic():
        return []  # this organization had no enabled rule a moment ago
    async with db.read() as session:
        rules = [r for r in await store.enabled_rules(session, organization_id=organization_id)]
        if not rules and settings.notification_rules_cache_s > 0:
            _quiet[quiet_key] = time.monotonic() + settings.notification_rules_cache_s
        rules = [r for r in rules if event in r.events]
        if not rules:
            return []
        if job is None and job_id is not None:
            job = await session.get(Job, job_id)
        facts = _facts(job, payload)
        channel_ids = list(dict.fromkeys(r.channel_id for r in rules if matches(r, facts)))
        channels = [await store.find_channel(session, channel_id=c) for c in channel_ids]
    live = [c for c in channels if c is not None and c.enabled and c.disabled_at is None]
    if not live:
        return []
    now = utcnow()
    key = occurrence_key(event, job_id, payload)
    body = {
        "type": event,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "data": {
            "organizationId": organization_id,
            "jobId": job_id,
            **({"job": job_summary(job)} if job is not None else {}),
            **{k: v for k, v in payload.items() if k != "eventId"},
        },
    }
    started = []
    for channel in live:
        delivery_id = delivery_id_for(channel.id, key)
        values = {
            "id": delivery_id,
            "organization_id": organization_id,
            "channel_id": channel.id,
            "event": event,
            "job_id": job_id,
            "payload": body,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "runs": 1,
            "created_at": now,
            "updated_at": now,
        }

        async def insert(session: Any, values: dict[str, Any] = values) -> bool:
            return await store.insert_delivery(session, values=values)

        inserted = await db.transact(insert)
        if not inserted:
            # Started before, unless the process died between the row and the workflow.
            async with db.read() as session:
                existing = await store.find_delivery(session, delivery_id=delivery_id)
            if existing is None or existing.attempts > 0 or existing.runs > 1:
                continue
        if await start_delivery(settings, temporal, delivery_id, run=1):
            started.append(delivery_id)
    return started


async def start_delivery(
    settings: Settings, temporal: Client, delivery_id: str, *, run: int
) -> bool:
    """Start the workflow of one run of a delivery (run 1, then one per redeliver); False
    when that run's workflow exists already."""
    workflow_id = f"notification-{delivery_id}" + (f"-{run}" if run > 1 else "")
    try:
        await temporal.start_workflow(
            DELIVERY_WORKFLOW,
            DeliveryInput(delivery_id=delivery_id),
            id=workflow_id,
            task_queue=settings.task_queue,
            # Never a second workflow with this id, even after the first has ended.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return False
    logger.info("notification delivery started", extra={"delivery_id": delivery_id})
    return True


async def announce_job_end(
    db: Database,
    settings: Settings,
    temporal: Client,
    *,
    organization_id: str,
    job_id: str,
    status: str,
) -> None:
    """Announce a job's terminal status (job.completed, job.failed, job.cancelled). A job
    ends once, so the occurrence is the job and its status, whoever announces it."""
    event = f"job.{status}"
    if event in EVENTS:
        await announce_with(
            db,
            settings,
            temporal,
            organization_id=organization_id,
            event=event,
            job_id=job_id,
            payload={"eventId": job_id},
        )


def _facts(job: Job | None, payload: dict[str, Any]) -> JobFacts:
    if job is not None:
        return JobFacts(type=job.type, name=job.name, priority=job.priority)
    # Events without a job row (a missed schedule) may say what job they were about.
    priority = payload.get("priority")
    return JobFacts(
        type=payload.get("jobType"),
        name=payload.get("jobName"),
        priority=priority if isinstance(priority, int) else None,
    )


def matches(rule: NotificationRule, facts: JobFacts) -> bool:
    """Whether a rule's filters (each empty one matches everything) accept the job."""
    if rule.job_types and facts.type not in rule.job_types:
        return False
    if rule.name_pattern and (
        facts.name is None
        or not fnmatch.fnmatchcase(facts.name.casefold(), rule.name_pattern.casefold())
    ):
        return False
    return not (rule.priorities and facts.priority not in rule.priorities)


def job_summary(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "type": job.type,
        "name": job.name,
        "status": job.status,
        "priority": job.priority,
        "error": job.error,
        "finishedAt": job.finished_at.isoformat() if job.finished_at else None,
    }


def occurrence_key(event: str, job_id: str | None, payload: dict[str, Any]) -> str:
    explicit = payload.get("eventId")
    if isinstance(explicit, str) and explicit:
        return f"{event}:{explicit}"
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return f"{event}:{job_id}:{canonical}"


def delivery_id_for(channel_id: str, key: str) -> str:
    """A stable id per (channel, occurrence); also the Standard Webhooks `webhook-id`."""
    digest = hashlib.sha256(f"{channel_id}\n{key}".encode()).digest()[:20]
    return "msg_" + base64.b32encode(digest).decode().lower().rstrip("=")
