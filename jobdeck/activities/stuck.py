"""The watchdog's step (issue 15): find stuck jobs, clear the ones that moved again, and
record schedules' missed runs. Run by the watchdog workflow on a Temporal Schedule
(workflows/stuck.py), so no process of its own.

A job is stuck when
- it is active, and neither its row, nor an event (progress, a message, a provider's own
  event or metric), nor a heartbeat of one of its steps has moved for longer than its
  type's threshold (`stuck_after_s_by_type`, else `stuck_after_s`); or
- it is pending longer than `stuck_pending_after_s` while a worker polls its task queue
  for work (a Temporal worker polls only with a free slot: the workers are idle), and it
  is not waiting in line for a concurrency slot or for the jobs it depends on (waits on
  purpose).

A stuck job gets one `stuck` event ("no progress for 14 min") and a row in stuck_jobs;
when it moves again (or ends) the row goes, with an `unstuck` event if it still runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.service import RPCError

from jobdeck.activities.base import ActivityGroup
from jobdeck.clock import utcnow
from jobdeck.domain import EventKind, JobStatus
from jobdeck.notifications.announce import announce
from jobdeck.store import dependencies as dependency_store
from jobdeck.store import jobs as job_store
from jobdeck.store import schedules as schedule_store
from jobdeck.store.tables import Job, JobEvent, JobSlot, StuckJob
from jobdeck.temporal import activity_pollers

logger = logging.getLogger(__name__)

# Events that are not the job moving: the watchdog's own, and what people did to it.
_NOT_MOVEMENT = [
    EventKind.STUCK.value,
    EventKind.UNSTUCK.value,
    EventKind.CANCEL_REQUESTED.value,
    EventKind.RETRIED.value,
]
NO_PROGRESS, PENDING = "no_progress", "pending"


@dataclass
class WatchInput:
    # Each job type's task queue (the worker that keeps the schedule knows the registry).
    queues: dict[str, str] = field(default_factory=dict)


@dataclass
class WatchResult:
    stuck: list[str] = field(default_factory=list)
    unstuck: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)  # schedule ids with new missed runs


def idle_text(seconds: float) -> str:
    """'no progress for 14 min', as the dashboard shows it."""
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    return f"{seconds / 3600:.1f} h"


class Watchdog(ActivityGroup):
    def threshold(self, job_type: str) -> float:
        return self.settings.stuck_after_s_by_type.get(job_type, self.settings.stuck_after_s)

    @activity.defn(name="jobs.watchdog.check")
    async def check(self, params: WatchInput) -> WatchResult:
        """One round: clear the jobs that moved, flag the newly stuck, record misses."""
        now = utcnow()
        result = WatchResult()
        async with self.db.read() as session:
            flagged = {row.job_id: row for row in await schedule_store.stuck_jobs(session)}
            active = await self._quiet_active(session, now)
            pending = await self._old_pending(session, now)
            moved_at = await self._last_movement(session, [*active, *flagged])
            jobs = {job.id: job for job in [*active.values(), *pending]}
            jobs.update(await schedule_store.jobs_by_id(session, job_ids=list(flagged)))
        for job_id, row in flagged.items():
            job = jobs.get(job_id)
            if job is None or self._moved(row, job, moved_at.get(job_id)):
                await self._clear(row, job, now)
                result.unstuck.append(job_id)
        for job in active.values():
            activity.heartbeat()  # a round over many quiet jobs asks Temporal about each
            if job.id in flagged and job.id not in result.unstuck:
                continue
            since = max(job.updated_at, moved_at.get(job.id, job.updated_at))
            if (now - since).total_seconds() < self.threshold(job.type):
                continue
            beat = await self._last_heartbeat(job.id)
            if beat is not None and (now - beat).total_seconds() < self.threshold(job.type):
                continue
            await self._flag(job, NO_PROGRESS, since, now)
            result.stuck.append(job.id)
        idle_queues: dict[str, bool] = {}
        for job in pending:
            if job.id in flagged and job.id not in result.unstuck:
                continue
            queue = params.queues.get(job.type, self.settings.task_queue)
            if queue not in idle_queues:
                idle_queues[queue] = await self._workers_idle(queue)
            if idle_queues[queue]:
                await self._flag(job, PENDING, job.created_at, now)
                result.stuck.append(job.id)
        activity.heartbeat()
        result.missed = await self._schedule_misses(now)
        return result

    async def _quiet_active(self, session: AsyncSession, now: datetime) -> dict[str, Job]:
        """Active jobs whose row has not changed for the smallest threshold."""
        shortest = min([self.settings.stuck_after_s, *self.settings.stuck_after_s_by_type.values()])
        stmt = select(Job).where(
            Job.status == JobStatus.ACTIVE.value,
            Job.updated_at < now - timedelta(seconds=shortest),
        )
        return {job.id: job for job in (await session.execute(stmt)).scalars()}

    async def _old_pending(self, session: AsyncSession, now: datetime) -> list[Job]:
        """Pending jobs past the threshold, less those waiting in line for a slot under
        their organization's concurrency limits (workflows/slots.py) or for the jobs they
        depend on (workflows/dependencies.py): held back on purpose, not stuck."""
        in_line = select(JobSlot.job_id).where(JobSlot.job_id == Job.id, JobSlot.state == "waiting")
        stmt = select(Job).where(
            Job.status == JobStatus.PENDING.value,
            Job.created_at < now - timedelta(seconds=self.settings.stuck_pending_after_s),
            ~in_line.exists(),
            ~dependency_store.waits_for_others(),
        )
        return list((await session.execute(stmt)).scalars())

    async def _last_movement(
        self, session: AsyncSession, job_ids: list[str]
    ) -> dict[str, datetime]:
        """Each job's newest event that is a sign of life (a provider's events included)."""
        if not job_ids:
            return {}
        stmt = (
            select(JobEvent.job_id, func.max(JobEvent.created_at))
            .where(JobEvent.job_id.in_(job_ids), JobEvent.kind.not_in(_NOT_MOVEMENT))
            .group_by(JobEvent.job_id)
        )
        found: dict[str, datetime] = {}
        for job_id, when in (await session.execute(stmt)).all():
            # SQLite hands back MAX() of a UTC column as text or a naive datetime.
            if isinstance(when, str):
                when = datetime.fromisoformat(when)
            found[job_id] = when if when.tzinfo else when.replace(tzinfo=utcnow().tzinfo)
        return found

    def _moved(self, row: StuckJob, job: Job, moved_at: datetime | None) -> bool:
        if JobStatus(job.status).is_terminal:
            return True
        if row.reason == PENDING:
            return job.status != JobStatus.PENDING.value
        latest = max(job.updated_at, moved_at or job.updated_at)
        return latest > row.since

    async def _last_heartbeat(self, job_id: str) -> datetime | None:
        """The newest heartbeat of the job's running steps (None: none, or unknown)."""
        try:
            description = await self.runtime.temporal.get_workflow_handle(job_id).describe(
                rpc_timeout=timedelta(seconds=5)
            )
        except RPCError:
            return None
        beats = [
            a.last_heartbeat_time.ToDatetime(tzinfo=utcnow().tzinfo)
            for a in description.raw_description.pending_activities
            if a.HasField("last_heartbeat_time")
        ]
        return max(beats) if beats else None

    async def _workers_idle(self, queue: str) -> bool:
        try:
            return (
                await activity_pollers(
                    self.runtime.temporal, self.settings.temporal_namespace, queue
                )
                > 0
            )
        except RPCError:
            return False

    async def _flag(self, job: Job, reason: str, since: datetime, now: datetime) -> None:
        idle = (now - since).total_seconds()
        text = (
            f"no progress for {idle_text(idle)}"
            if reason == NO_PROGRESS
            else f"pending for {idle_text(idle)} while workers are idle"
        )
        data: dict[str, Any] = {
            "reason": reason,
            "since": since.isoformat(),
            "idleSeconds": round(idle),
            "message": text,
        }

        async def work(session: AsyncSession) -> None:
            await schedule_store.mark_stuck(
                session,
                job_id=job.id,
                organization_id=job.organization_id,
                reason=reason,
                since=since,
                now=now,
            )
            await job_store.note_event(
                session, job_id=job.id, kind=EventKind.STUCK, now=now, data=data
            )

        await self.db.transact(work)
        logger.warning("job stuck", extra={"job_id": job.id, "reason": reason, "idle_s": idle})
        await self._announce(
            job.organization_id,
            "job.stuck",
            job.id,
            {"eventId": f"stuck:{job.id}:{since.isoformat()}", **data},
        )

    async def _announce(
        self, organization_id: str, event: str, job_id: str | None, payload: dict[str, Any]
    ) -> None:
        """Tell the organization's notification rules; a failure to is logged, not fatal
        (the stuck event is recorded either way)."""
        try:
            await announce(
                self.runtime,
                organization_id=organization_id,
                event=event,
                job_id=job_id,
                payload=payload,
            )
        except Exception as err:  # noqa: BLE001 (any failure: the round goes on)
            logger.warning("cannot announce", extra={"event": event, "error": repr(err)})

    async def _clear(self, row: StuckJob, job: Job | None, now: datetime) -> None:
        stuck_for = (now - row.since).total_seconds()

        async def work(session: AsyncSession) -> None:
            await schedule_store.clear_stuck(session, job_id=row.job_id)
            if job is not None and not JobStatus(job.status).is_terminal:
                await job_store.note_event(
                    session,
                    job_id=row.job_id,
                    kind=EventKind.UNSTUCK,
                    now=now,
                    data={
                        "reason": row.reason,
                        "stuckSeconds": round(stuck_for),
                        "message": f"moving again after {idle_text(stuck_for)}",
                    },
                )

        await self.db.transact(work)

    async def _schedule_misses(self, now: datetime) -> list[str]:
        """Record the runs each schedule missed since the last round (Temporal's counters
        of runs past the catch-up window and runs skipped for overlap)."""
        async with self.db.read() as session:
            schedules = await schedule_store.all_schedules(session)
        missed: list[str] = []
        for schedule in schedules:
            try:
                info = (
                    await self.runtime.temporal.get_schedule_handle(schedule.temporal_id).describe(
                        rpc_timeout=timedelta(seconds=5)
                    )
                ).info
            except RPCError:
                continue
            rises = [
                (reason, count)
                for reason, count in (
                    (
                        "catchup_window",
                        info.num_actions_missed_catchup_window - schedule.missed_seen,
                    ),
                    ("overlap", info.num_actions_skipped_overlap - schedule.skipped_seen),
                )
                if count > 0
            ]
            if not rises:
                continue

            await self.db.transact(
                partial(
                    schedule_store.record_miss,
                    schedule_id=schedule.id,
                    missed_seen=info.num_actions_missed_catchup_window,
                    skipped_seen=info.num_actions_skipped_overlap,
                    misses=rises,
                    now=now,
                )
            )
            missed.append(schedule.id)
            for reason, count in rises:
                await self._announce(
                    schedule.organization_id,
                    "schedule.missed",
                    None,
                    {
                        "eventId": f"missed:{schedule.id}:{reason}:"
                        f"{info.num_actions_missed_catchup_window}:{info.num_actions_skipped_overlap}",
                        "scheduleId": schedule.id,
                        "scheduleName": schedule.name,
                        "reason": reason,
                        "count": count,
                    },
                )
        return missed
