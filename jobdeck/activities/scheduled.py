"""A schedule's run before its job starts (issue 15): the checks POST /api/jobs makes, on
the schedule's owner's behalf, at the time the run fires.

The Temporal Schedule starts the scheduled-run workflow (workflows/scheduled.py), not the
job's own; that workflow asks `ScheduledRuns.prepare` here for the job's spec and starts
the job as its child. A run the checks refuse starts no job: it is recorded as a missed
run of the schedule, with the reason, and announced as `schedule.missed`.

Checked, as for a job created through the API:
- the organization and the owner still exist, and the owner still holds an API key that
  is not revoked (a person whose every key is revoked can no longer create jobs, so
  neither can their schedules);
- the job's type, data and name (JobControl: the type's `unavailable` and `prepare`
  steps, e.g. a pipeline archived since the schedule was saved).
Concurrency limits are not checked here: the job takes a slot in its first step, like
any job (workflows/slots.py), and waits in line when its organization has none free.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from temporalio import activity

from jobdeck.activities.base import ActivityGroup
from jobdeck.clock import utcnow
from jobdeck.domain import JobSpec
from jobdeck.errors import InvalidInput, NotFound
from jobdeck.fairness.limits import fairness_weight
from jobdeck.notifications.announce import announce
from jobdeck.store import accounts
from jobdeck.store import schedules as schedule_store
from jobdeck.store.accounts import Principal, Role
from jobdeck.store.tables import Organization, Schedule, User

logger = logging.getLogger(__name__)

SCHEDULED_RUN_WORKFLOW = "jobdeck.scheduled-run"

# Why a run was refused: the schedule_misses reason (at most 32 characters).
ORGANIZATION_GONE = "organization_gone"
OWNER_GONE = "owner_gone"
OWNER_REVOKED = "owner_revoked"
JOB_REFUSED = "job_refused"


@dataclass
class ScheduledRunJob:
    """The job a schedule fires, as saved (its data checked and prepared then)."""

    type: str
    name: str
    data: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    priority: int = 3


@dataclass
class ScheduledRunInput:
    """The scheduled-run workflow's input: the Temporal Schedule's action argument."""

    schedule_id: str
    organization_id: str
    user_id: str
    job: ScheduledRunJob


@dataclass
class PrepareRun:
    run: ScheduledRunInput
    job_id: str  # chosen by the workflow (deterministic)
    created_at: str


@dataclass
class ScheduledRunPlan:
    """The job to start (spec, queue, fairness), or why none starts (`refused`)."""

    spec: JobSpec | None = None
    task_queue: str | None = None
    search_attributes: bool = True  # tag the job's workflow (the worker's setting)
    fairness_key: str | None = None
    fairness_weight: float | None = None
    refused: str | None = None  # a reason above
    message: str | None = None


class ScheduledRuns(ActivityGroup):
    @activity.defn(name="schedules.prepare_run")
    async def prepare(self, request: PrepareRun) -> ScheduledRunPlan:
        """The run's job checked as POST /api/jobs checks one (see the module's doc), or
        the run refused and recorded as missed. Unavailable (Temporal or the database
        unreachable) is raised: retried."""
        run = request.run
        refused = await self._owner_refusal(run)
        if refused is None:
            principal = await self._principal(run)
            try:
                spec, queue = await self.jobs.prepare_started(
                    principal,
                    type=run.job.type,
                    name=run.job.name,
                    data=run.job.data,
                    description=run.job.description,
                    priority=run.job.priority,
                    job_id=request.job_id,
                    schedule_id=run.schedule_id,
                    created_at=request.created_at,
                    progress_interval_s=self.settings.progress_interval_s,
                )
            except (InvalidInput, NotFound) as err:
                refused = (JOB_REFUSED, f"the job was refused: {err}")
            else:
                return ScheduledRunPlan(
                    spec=spec,
                    task_queue=queue,
                    search_attributes=self.settings.temporal_search_attributes,
                    fairness_key=spec.organization_id,
                    fairness_weight=fairness_weight(self.settings, spec.organization_id),
                )
        reason, message = refused
        await self._record_refusal(request, reason, message)
        return ScheduledRunPlan(refused=reason, message=message)

    async def _owner_refusal(self, run: ScheduledRunInput) -> tuple[str, str] | None:
        async with self.db.read() as session:
            if await session.get(Organization, run.organization_id) is None:
                return ORGANIZATION_GONE, "the schedule's organization no longer exists"
            user = await session.get(User, run.user_id)
            if user is None or user.organization_id != run.organization_id:
                return OWNER_GONE, "the schedule's owner is no longer in its organization"
            if not await accounts.has_active_key(session, user_id=user.id):
                return (
                    OWNER_REVOKED,
                    "every API key of the schedule's owner is revoked, so it starts no job "
                    "in their name; recreate the schedule as someone who can",
                )
        return None

    async def _principal(self, run: ScheduledRunInput) -> Principal:
        async with self.db.read() as session:
            user = await session.get(User, run.user_id)
        assert user is not None  # checked just before; users are never deleted in between
        return Principal(
            user_id=user.id,
            organization_id=run.organization_id,
            role=Role(user.role),
            key_id=f"schedule:{run.schedule_id}",
        )

    async def _record_refusal(self, request: PrepareRun, reason: str, message: str) -> None:
        run = request.run
        logger.warning(
            "scheduled run refused",
            extra={"schedule_id": run.schedule_id, "reason": reason, "detail": message},
        )
        async with self.db.read() as session:
            schedule = await session.get(Schedule, run.schedule_id)
        if schedule is None:
            return  # deleted since it fired: nobody to tell
        await self.db.transact(
            partial(
                schedule_store.record_refusal,
                schedule_id=run.schedule_id,
                # Temporal's recent runs name the firing by it: its run is shown refused.
                job_id=request.job_id,
                reason=reason,
                now=utcnow(),
            )
        )
        try:
            await announce(
                self.runtime,
                organization_id=schedule.organization_id,
                event="schedule.missed",
                job_id=None,
                payload={
                    # The would-be job's id names this run: a retried step announces once.
                    "eventId": f"refused:{run.schedule_id}:{request.job_id}",
                    "scheduleId": run.schedule_id,
                    "scheduleName": schedule.name,
                    "reason": reason,
                    "message": message,
                    "count": 1,
                    "jobType": run.job.type,
                    "jobName": run.job.name,
                    "priority": run.job.priority,
                },
            )
        except Exception as err:  # noqa: BLE001 (the miss is recorded either way)
            logger.warning(
                "cannot announce", extra={"event": "schedule.missed", "error": repr(err)}
            )
