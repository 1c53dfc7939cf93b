"""Job records: the activities through which every job's row and events change.

Each change is one transaction that updates the row and appends its event; every method
is safe to run twice (a worker killed after the commit re-runs it), because terminal jobs
never change and `started` only moves a pending job.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Row
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from jobdeck.activities.dependencies import DependencyAnswer, check, signal_dependants
from jobdeck.activities.slots import SlotAnswer, SlotRequest, free_slot, take_slot, wake
from jobdeck.clock import utcnow
from jobdeck.config import Settings
from jobdeck.domain import EventKind, JobErrorInfo, JobSpec, JobStatus, Progress
from jobdeck.errors import NotFound
from jobdeck.notifications.announce import announce_job_end
from jobdeck.store import datasets as dataset_store
from jobdeck.store import dependencies as dependency_store
from jobdeck.store import jobs as job_store
from jobdeck.store.engine import Database, is_outage
from jobdeck.store.events import Executor, as_session
from jobdeck.store.tables import Dataset, Job

logger = logging.getLogger(__name__)
T = TypeVar("T")


def _ended(job: Job | Row[Any] | None) -> tuple[str, str] | None:
    """(organization, status) of a job that has ended; None otherwise."""
    if job is None or not JobStatus(job.status).is_terminal:
        return None
    return job.organization_id, job.status


async def _dependants(db: Executor, job_id: str, changed: Row[Any] | None) -> list[str]:
    """The pending jobs waiting for a job that has just ended. Its ending update said
    whether any job waits for it at all (JOB_HAS_DEPENDANTS), so the usual job costs no
    read; a re-run of the ending (the job ended already, `changed` is None) looks."""
    if changed is not None and not changed.has_dependants:
        return []
    async with as_session(db) as session:
        return await dependency_store.waiting_dependants(session, job_id=job_id)


@dataclass
class Started:
    progress_interval_s: float = 0.5


@dataclass
class ProgressReport:
    job_id: str
    progress: dict[str, Any]


@dataclass
class Completion:
    job_id: str
    result: dict[str, Any] | None = None


@dataclass
class Failure:
    job_id: str
    error: dict[str, Any]


@dataclass
class JobRef:
    job_id: str
    # Why a job is cancelled when no one asked (a job it depends on failed): its error.
    error: dict[str, Any] | None = None


def _unrecordable(err: DBAPIError) -> ApplicationError:
    """What a transaction writing a job's row raises when the database refuses a value
    (not an outage): the job cannot exist, so its workflow ends now, failed with the
    reason, instead of running on with no row that could show or cancel it."""
    return ApplicationError(
        f"the job could not be recorded: {str(err.orig).splitlines()[0][:500]}",
        type="JobNotRecordable",
        non_retryable=True,
    )


# What a job's ending transaction hands on: (organization, status) if it has ended, the
# jobs its freed slot let through, the jobs waiting for it.
_Ending = tuple[tuple[str, str] | None, list[str], list[str]]


class JobRecords:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def all(self) -> list[Any]:
        return [
            self.ensure_row,
            self.begin,
            self.mark_started,
            self.report_progress,
            self.mark_completed,
            self.mark_failed,
            self.mark_cancelled,
            self.check_dependencies,
        ]

    @activity.defn(name="jobs.ensure_row")
    async def ensure_row(self, spec: JobSpec) -> None:
        """Write the job's row if the API died between starting the workflow and writing
        it (a read, in the usual case where the row is there)."""
        async with self.db.read() as session:
            if await job_store.find_job(session, job_id=spec.job_id) is not None:
                return

        async def work(session: AsyncSession) -> None:
            await job_store.insert_job(session, spec=spec, now=utcnow())

        await self._recording(work)

    @activity.defn(name="jobs.begin")
    async def begin(self, spec: JobSpec) -> SlotAnswer:
        """A job's first step, one transaction: its row (see ensure_row) and its
        concurrency slot, or its place in line (see activities/slots.py). A child job runs
        in its parent's slot and takes none."""

        # On a Core connection with prebuilt statements: every job passes here.
        async def work(conn: AsyncConnection) -> tuple[SlotAnswer, list[str]]:
            if await job_store.job_state(conn, job_id=spec.job_id) is None:
                await job_store.insert_job_row(conn, spec=spec, now=utcnow())
            if spec.parent_id is not None:
                return SlotAnswer(granted=True, recheck_s=self.settings.slot_recheck_s), []
            request = SlotRequest(spec.job_id, spec.organization_id, spec.type, spec.priority)
            return await take_slot(conn, self.settings, request)

        answer, granted = await self._recording_core(
            work, urgent=True, organization=spec.organization_id
        )
        await self._wake(granted)
        return answer

    @activity.defn(name="jobs.dependencies.check")
    async def check_dependencies(self, spec: JobSpec) -> DependencyAnswer:
        """Where the jobs this one depends on stand (see activities/dependencies.py); the
        job's row is written here if the API has not written it yet."""
        recheck_s = self.settings.dependency_recheck_s

        async def work(session: AsyncSession) -> DependencyAnswer:
            return await check(session, spec, now=utcnow(), recheck_s=recheck_s)

        answer: DependencyAnswer = await self._recording(work)
        return answer

    async def _recording(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run a transaction that may write the job's row: a value the database refuses
        ends the job (see _unrecordable); an outage is retried."""
        try:
            return await self.db.transact(work)
        except DBAPIError as err:
            if is_outage(err):
                raise  # retried until the database is back
            raise _unrecordable(err) from None

    async def _recording_core(
        self,
        work: Callable[[AsyncConnection], Awaitable[T]],
        *,
        urgent: bool = False,
        organization: str | None = None,
    ) -> T:
        """`_recording` on a Core connection (Database.transact_core)."""
        try:
            return await self.db.transact_core(work, urgent=urgent, organization=organization)
        except DBAPIError as err:
            if is_outage(err):
                raise  # retried until the database is back
            raise _unrecordable(err) from None

    async def start_pending(self, job_id: str) -> bool:
        """pending → active, when a worker slot picks up the job's first step; False when
        the job was not pending (already started, or ended)."""

        async def work(conn: AsyncConnection) -> bool:
            now = utcnow()
            changed = await job_store.change_job(
                conn,
                job_id=job_id,
                kind=EventKind.STARTED,
                now=now,
                values={"status": JobStatus.ACTIVE.value, "started_at": now, "attempts": 1},
                from_statuses=[JobStatus.PENDING],
            )
            return changed is not None

        started: bool = await self.db.transact_core(work, urgent=True)
        return started

    @activity.defn(name="jobs.mark_started")
    async def mark_started(self, spec: JobSpec) -> Started:
        await self.start(spec)
        return Started(progress_interval_s=self.settings.progress_interval_s)

    async def start(self, spec: JobSpec) -> None:
        """pending → active (a job already active stays as it is)."""

        async def work(session: AsyncSession) -> None:
            now = utcnow()
            # Creates the row if the API died between starting the workflow and writing it.
            await job_store.insert_job(session, spec=spec, now=now)
            await job_store.change_job(
                session,
                job_id=spec.job_id,
                kind=EventKind.STARTED,
                now=now,
                values={"status": JobStatus.ACTIVE.value, "started_at": now, "attempts": 1},
                from_statuses=[JobStatus.PENDING],
            )

        await self.db.transact(work)

    @activity.defn(name="jobs.report_progress")
    async def report_progress(self, report: ProgressReport) -> None:
        await self.save_progress(report.job_id, Progress.from_json(report.progress))

    @activity.defn(name="jobs.mark_completed")
    async def mark_completed(self, completion: Completion) -> None:
        async def work(conn: AsyncConnection) -> _Ending:
            now = utcnow()
            job = await job_store.job_state(conn, job_id=completion.job_id)
            values = {
                "status": JobStatus.COMPLETED.value,
                "finished_at": now,
                "result": completion.result,
            }
            if job is not None and job.progress and job.progress.get("total"):
                done = Progress.from_json(job.progress)
                done.current, done.eta = done.total or done.current, 0
                values["progress"] = done.to_json()
            changed = await job_store.change_job(
                conn,
                job_id=completion.job_id,
                kind=EventKind.COMPLETED,
                now=now,
                values=values,
                returning=[job_store.JOB_HAS_DEPENDANTS],
            )
            freed = await free_slot(conn, self.settings, completion.job_id)
            waiting = await _dependants(conn, completion.job_id, changed)
            return _ended(changed or job), freed, waiting

        await self._ended(completion.job_id, *await self.db.transact_core(work))

    @activity.defn(name="jobs.mark_failed")
    async def mark_failed(self, failure: Failure) -> None:
        await self._finish(
            failure.job_id, JobStatus.FAILED, EventKind.FAILED, {"error": failure.error}
        )

    @activity.defn(name="jobs.mark_cancelled")
    async def mark_cancelled(self, ref: JobRef) -> None:
        values = {"error": ref.error} if ref.error is not None else {}
        await self._finish(ref.job_id, JobStatus.CANCELLED, EventKind.CANCELLED, values)

    async def _finish(
        self, job_id: str, status: JobStatus, kind: EventKind, values: dict[str, Any]
    ) -> None:
        async def work(conn: AsyncConnection) -> _Ending:
            now = utcnow()
            changed = await job_store.change_job(
                conn,
                job_id=job_id,
                kind=kind,
                now=now,
                values={"status": status.value, "finished_at": now, **values},
                returning=[job_store.JOB_HAS_DEPENDANTS],
            )
            ended = _ended(changed or await job_store.job_state(conn, job_id=job_id))
            freed = await free_slot(conn, self.settings, job_id)
            return ended, freed, await _dependants(conn, job_id, changed)

        await self._ended(job_id, *await self.db.transact_core(work))

    async def _wake(self, granted: list[str]) -> None:
        if granted and activity.in_activity():
            await wake(activity.client(), granted)

    async def _ended(
        self, job_id: str, ended: tuple[str, str] | None, granted: list[str], waiting: list[str]
    ) -> None:
        """After a job's ending committed: wake the jobs its freed slot let through and
        the jobs waiting for it, and (notifications, issue 15) tell the organization's
        rules how the job ended. Also on a re-run after a crash (the job is terminal
        already): the delivery ids make a second announce deliver nothing twice."""
        await self._wake(granted)
        if waiting and activity.in_activity():
            await signal_dependants(activity.client(), job_id, waiting)
        if ended is not None and activity.in_activity():
            organization_id, status = ended
            await announce_job_end(
                self.db,
                self.settings,
                activity.client(),
                organization_id=organization_id,
                job_id=job_id,
                status=status,
            )

    async def save_progress(
        self, job_id: str, progress: Progress, *, derived: bool = False
    ) -> None:
        """Store a progress report, deriving rate and ETA from the one before it (unless
        `derived`: the caller did, from the report it wrote before)."""

        async def work(conn: AsyncConnection) -> None:
            await job_store.report_progress(
                conn, job_id=job_id, progress=progress, now=utcnow(), derived=derived
            )

        await self.db.transact_core(work)

    async def note_message(
        self, job_id: str, text: str, *, source: str, level: str | None = None
    ) -> None:
        """A line for the job's timeline (a provider's status, a training milestone; a
        warning when something could not be done)."""
        data = {"message": text, "source": source, **({"level": level} if level else {})}

        async def work(session: AsyncSession) -> None:
            await job_store.note_event(
                session, job_id=job_id, kind=EventKind.MESSAGE, now=utcnow(), data=data
            )

        await self.db.transact(work)

    async def find_dataset(self, organization_id: str, dataset_id: str) -> Dataset:
        """A dataset of the job's organization; a missing one fails the job for good."""
        try:
            async with self.db.read() as session:
                return await dataset_store.get_dataset(
                    session, organization_id=organization_id, dataset_id=dataset_id
                )
        except NotFound:
            raise ApplicationError(
                f"dataset {dataset_id} not found in your organization",
                type="DatasetNotFound",
                non_retryable=True,
            ) from None

    async def note_attempt_failed(
        self,
        job_id: str,
        *,
        step: str,
        attempt: int,
        error: JobErrorInfo,
        retry_in_s: float | None,
    ) -> None:
        """Record that one try of a step failed, so the retry is visible while it waits."""

        async def work(session: AsyncSession) -> None:
            job = await job_store.find_job(session, job_id=job_id)
            if job is None or JobStatus(job.status).is_terminal:
                return
            await job_store.change_job(
                session,
                job_id=job_id,
                kind=EventKind.ATTEMPT_FAILED,
                now=utcnow(),
                values={"attempts": max(job.attempts, attempt + 1 if retry_in_s else attempt)},
                event_data={
                    "step": step,
                    "attempt": attempt,
                    "error": error.to_json(),
                    "retryInSeconds": retry_in_s,
                },
            )

        await self.db.transact(work)

    async def note_retry_started(self, job_id: str, *, step: str, attempt: int) -> None:
        """Count a try that starts with no record of the one before it: that one never
        reported back (its worker died, or it timed out), so say so on the job."""

        async def work(session: AsyncSession) -> None:
            job = await job_store.find_job(session, job_id=job_id)
            if job is None or JobStatus(job.status).is_terminal or job.attempts >= attempt:
                return
            lost = JobErrorInfo(
                type="Timeout",
                message="the previous try stopped responding (its worker was lost or it timed out)",
            )
            await job_store.change_job(
                session,
                job_id=job_id,
                kind=EventKind.ATTEMPT_FAILED,
                now=utcnow(),
                values={"attempts": attempt},
                event_data={
                    "step": step,
                    "attempt": attempt - 1,
                    "error": lost.to_json(),
                    "retryInSeconds": 0,
                },
            )

        await self.db.transact(work)
