"""Schedules: one Temporal Schedule per jobdeck schedule, firing ordinary jobs (a
pipeline's schedule fires ordinary pipeline runs: workflow-execution jobs).

The schedule's action starts the scheduled-run workflow (workflows/scheduled.py), which
checks the job as POST /api/jobs would and starts it as its child, under a job id of its
own (the run's first run id): each run is its own job, cancelled and retried like any,
and a run the checks refuse is recorded as missed, with the reason. (A schedule created
before this action started the job's workflow itself, whose id, the schedule id and the
second it fired in, was the job id; `upgrade_actions` moves it to the current action,
once: the row records the action version it has.)

"Trigger now" does not go through Temporal: Temporal names a run by the second it fires
in and makes one run of the triggers of one second, so two callers triggering at once
would get one job between them. A trigger creates the job here, as POST /api/jobs does,
linked to the schedule, and honours the overlap policy against the schedule's own jobs
still running (pending or active): skip, bufferOne and bufferAll refuse it (409; a
trigger is never buffered to run later), cancelOther and terminateOther cancel those jobs
as a user's cancel would and start it, allowAll starts it. Triggers of one schedule are
taken one at a time in this process, so two at once see each other's job.

Order of a create: the row is committed, then the Temporal Schedule created; if Temporal
refuses or cannot be reached, the row is removed again. A process that dies in between
leaves a row whose schedule Temporal does not know (shown with `state: missing`, and
deletable), never a Temporal Schedule nobody can see.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.api.workflowservice.v1 import ListScheduleMatchingTimesRequest
from temporalio.client import (
    Client,
    ScheduleActionExecution,
    ScheduleActionExecutionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from jobdeck.clock import utcnow
from jobdeck.config import Settings
from jobdeck.errors import Conflict, InvalidInput, NotFound, Unavailable
from jobdeck.pipelines.validate import SpecInvalid
from jobdeck.registry import JobTypeRegistry
from jobdeck.runtime import Runtime
from jobdeck.schedules.definition import (
    Overlap,
    ScheduleDefinition,
    ScheduledJob,
    ScheduledPipeline,
    new_schedule_id,
)
from jobdeck.services.jobs import PRIORITY_HIGHEST, PRIORITY_LOWEST, JobControl, NewJob
from jobdeck.services.pipelines import RUN_TYPE
from jobdeck.services.schedule_temporal import (
    ACTION_VERSION,
    OVERLAPS,
    is_current_action,
    scheduled_run_action,
    temporal_id,
    temporal_schedule,
)
from jobdeck.store import pipelines as pipeline_store
from jobdeck.store import schedules as store
from jobdeck.store.accounts import Principal
from jobdeck.store.tables import Job, ScheduleMiss
from jobdeck.store.tables import Schedule as ScheduleRow
from jobdeck.temporal import bounded

logger = logging.getLogger(__name__)

MAX_BACKFILL_RUNS = 500  # Temporal lists 1,000 matching times at most
NEXT_RUNS = 5
MAX_NOTE = 1000
# The policies under which a trigger does not start while a job of the schedule runs
# (the buffering ones included: a trigger is answered now, never queued for later).
REFUSE_WHILE_RUNNING = frozenset({Overlap.SKIP, Overlap.BUFFER_ONE, Overlap.BUFFER_ALL})
CANCEL_WHILE_RUNNING = frozenset({Overlap.CANCEL_OTHER, Overlap.TERMINATE_OTHER})
# One lock per schedule being triggered in this process (dropped once nobody holds it).
_trigger_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


@dataclass
class ScheduleView:
    """A schedule as the API shows it: its row, Temporal's description (None when
    Temporal does not know it or cannot be reached), and the jobs it fired."""

    row: ScheduleRow
    description: ScheduleDescription | None
    state: str  # active | paused | missing (Temporal does not know it) | unknown
    jobs: dict[str, Job] = field(default_factory=dict)
    misses: list[ScheduleMiss] = field(default_factory=list)
    # Temporal's recent runs refused when they fired, by the id their job would have had.
    refusals: dict[str, ScheduleMiss] = field(default_factory=dict)

    @property
    def definition(self) -> ScheduleDefinition:
        return ScheduleDefinition.from_json(self.row.definition)


class ScheduleService:
    def __init__(self, runtime: Runtime, registry: JobTypeRegistry) -> None:
        self.runtime = runtime
        self.registry = registry

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    # Checking.

    async def check(
        self, principal: Principal, name: str, definition: ScheduleDefinition
    ) -> ScheduleDefinition:
        """The definition normalised, the job's data checked (and prepared, for types that
        do) as POST /api/jobs does, or a pipeline's run built and checked as POST
        /api/pipelines/{id}/run does; InvalidInput otherwise."""
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("name must be 1 to 200 characters")
        if definition.pipeline is not None:
            job = await self._pipeline_job(principal, definition.job, definition.pipeline)
            pipeline = replace(
                definition.pipeline, version=job.data["version"], inputs=job.data["inputs"]
            )
        else:
            job, pipeline = definition.job, None
        if not job.name.strip() or len(job.name) > 200:
            raise InvalidInput("job.name must be 1 to 200 characters")
        if not PRIORITY_HIGHEST <= job.priority <= PRIORITY_LOWEST:
            raise InvalidInput("job.priority must be 1 (highest) to 5 (lowest)")
        checked = definition.checked(
            now=utcnow(), default_catchup_window_s=int(self.settings.schedule_catchup_window_s)
        )
        if pipeline is None:
            job_type, data = self.registry.validate(job.type, job.data)
            if job_type.prepare is not None:
                data = await job_type.prepare(self.runtime, principal, data)
            job = replace(job, type=job_type.name, data=data)
        return replace(checked, job=replace(job, name=job.name.strip()), pipeline=pipeline)

    async def _pipeline_job(
        self, principal: Principal, job: ScheduledJob, pipeline: ScheduledPipeline
    ) -> ScheduledJob:
        """The workflow-execution job each run of the pipeline is: the version pinned (the
        latest now, unless given), its inputs checked with defaults filled in."""
        async with self.runtime.db.read() as session:
            try:
                saved = await pipeline_store.get_pipeline(
                    session, organization_id=principal.organization_id, pipeline_id=pipeline.id
                )
            except NotFound:
                raise InvalidInput(
                    f"pipeline.id: no pipeline {pipeline.id!r} in your organization"
                ) from None
        if saved.archived_at is not None:
            raise InvalidInput(
                f"pipeline.id: pipeline {saved.name!r} is archived; save a new version of it "
                "to restore it first"
            )
        if pipeline.version is not None and pipeline.version > saved.latest_version:
            raise InvalidInput(
                f"pipeline.version: pipeline {saved.name!r} has versions 1 to "
                f"{saved.latest_version}, not {pipeline.version}"
            )
        raw: dict[str, Any] = {"workflowId": saved.id, "inputs": pipeline.inputs}
        if pipeline.version is not None:
            raw["version"] = pipeline.version
        job_type, data = self.registry.validate(RUN_TYPE, raw)
        assert job_type.prepare is not None
        try:
            data = await job_type.prepare(self.runtime, principal, data)
        except SpecInvalid as err:
            raise InvalidInput(
                f"pipeline.inputs: not valid for pipeline {saved.name!r}: "
                + "; ".join(f"{p.field}: {p.message}" for p in err.problems[:20])
            ) from None
        return replace(job, type=job_type.name, name=job.name.strip() or saved.name, data=data)

    # Changing.

    async def create(
        self,
        principal: Principal,
        name: str,
        definition: ScheduleDefinition,
        *,
        paused: bool = False,
        note: str | None = None,
    ) -> ScheduleView:
        """A new schedule and its Temporal Schedule."""
        definition = await self.check(principal, name, definition)
        org = principal.organization_id
        async with self.runtime.db.write() as session:
            if (
                await store.count_schedules(session, organization_id=org)
                >= self.settings.schedule_max_per_organization
            ):
                raise Conflict(
                    f"this organization has {self.settings.schedule_max_per_organization} "
                    "schedules, the most allowed; delete one first"
                )
            schedule_id = new_schedule_id()
            row = await store.insert_schedule(
                session,
                schedule_id=schedule_id,
                organization_id=org,
                user_id=principal.user_id,
                name=name.strip(),
                temporal_id=temporal_id(org, schedule_id),
                definition=definition.to_json(),
                action_version=ACTION_VERSION,  # it is created with the current action
                now=utcnow(),
            )
        state = ScheduleState(
            paused=paused,
            note=_note(note),
            limited_actions=definition.remaining_runs is not None,
            remaining_actions=definition.remaining_runs or 0,
        )
        schedule = temporal_schedule(
            self.settings, schedule_id, org, principal.user_id, definition, state
        )
        try:
            async with bounded(self.settings) as rpc_timeout:
                await self.runtime.temporal.create_schedule(
                    row.temporal_id, schedule, rpc_timeout=rpc_timeout
                )
        except BaseException as err:
            async with self.runtime.db.write() as session:
                await store.delete_schedule(session, row=row)
            if isinstance(err, RPCError) and err.status == RPCStatusCode.INVALID_ARGUMENT:
                raise InvalidInput(f"Temporal refused the schedule: {err.message}") from err
            if isinstance(err, ScheduleAlreadyRunningError):  # a 65-bit id collided
                raise Conflict("a schedule with this id exists; try again") from err
            if isinstance(err, RPCError | RuntimeError):
                raise Unavailable("the job engine (Temporal) is unreachable; try again") from err
            raise
        logger.info("schedule created", extra={"schedule_id": schedule_id})
        return await self.get(principal, schedule_id)

    async def update(
        self,
        principal: Principal,
        schedule_id: str,
        name: str,
        definition: ScheduleDefinition,
        *,
        paused: bool | None = None,
        note: str | None = None,
    ) -> ScheduleView:
        """Replace a schedule's definition (its runs so far and its jobs stay)."""
        definition = await self.check(principal, name, definition)
        row = await self._row(principal, schedule_id)

        def updater(current: ScheduleUpdateInput) -> ScheduleUpdate:
            old = current.description.schedule.state
            state = ScheduleState(
                paused=old.paused if paused is None else paused,
                note=_note(note) if note is not None else old.note,
                limited_actions=definition.remaining_runs is not None,
                remaining_actions=definition.remaining_runs or 0,
            )
            return ScheduleUpdate(
                temporal_schedule(
                    self.settings,
                    row.id,
                    row.organization_id,
                    row.user_id,
                    definition,
                    state,
                )
            )

        await self._call(row, lambda h, t: h.update(updater, rpc_timeout=t))
        async with self.runtime.db.write() as session:
            fresh = await store.get_schedule(
                session, organization_id=principal.organization_id, schedule_id=schedule_id
            )
            await store.update_schedule(
                session,
                row=fresh,
                name=name.strip(),
                definition=definition.to_json(),
                action_version=ACTION_VERSION,  # the update wrote the current action
                now=utcnow(),
            )
        return await self.get(principal, schedule_id)

    async def pause(self, principal: Principal, schedule_id: str, note: str | None) -> ScheduleView:
        row = await self._row(principal, schedule_id)
        text = _note(note) or "paused"
        await self._call(row, lambda h, t: h.pause(note=text, rpc_timeout=t))
        return await self.get(principal, schedule_id)

    async def resume(
        self, principal: Principal, schedule_id: str, note: str | None
    ) -> ScheduleView:
        row = await self._row(principal, schedule_id)
        text = _note(note) or "resumed"
        await self._call(row, lambda h, t: h.unpause(note=text, rpc_timeout=t))
        return await self.get(principal, schedule_id)

    async def trigger(self, principal: Principal, schedule_id: str) -> Job:
        """Start one run now (also while paused): a job of the schedule's definition,
        created and checked as POST /api/jobs creates one, linked to the schedule, under
        the schedule's overlap policy as to its jobs still running (see the module's doc):
        Conflict when the policy refuses it."""
        row = await self._row(principal, schedule_id)
        definition = ScheduleDefinition.from_json(row.definition)
        job = definition.job
        new = NewJob(
            type=job.type,
            name=job.name,
            data=job.data,
            description=job.description,
            priority=job.priority,
        )
        control = JobControl(self.runtime, self.registry)
        lock = _trigger_locks.setdefault(row.id, asyncio.Lock())
        async with lock:
            async with self.runtime.db.read() as session:
                running = await store.running_jobs(session, schedule_id=row.id)
            if running and definition.overlap in REFUSE_WHILE_RUNNING:
                raise Conflict(_refusal(row, definition.overlap, running))
            # Created before the others are cancelled: a trigger its checks refuse cancels
            # nothing. Their cancel frees their concurrency slots for it.
            created, _ = await control.create(principal, new, schedule_id=row.id)
            if definition.overlap in CANCEL_WHILE_RUNNING:
                await self._cancel_running(principal, row, running, created)
        logger.info("schedule triggered", extra={"schedule_id": row.id, "job_id": created.id})
        return created

    async def _cancel_running(
        self, principal: Principal, row: ScheduleRow, running: list[Job], created: Job
    ) -> None:
        """Cancel the schedule's jobs that ran when `created` was triggered, as a user's
        cancel would (a terminated run's job is cancelled too, like a firing's)."""
        control = JobControl(self.runtime, self.registry)
        for other in running:
            try:
                await control.cancel(principal, other.id)
            except Conflict:
                pass  # it ended meanwhile
            except Unavailable as err:
                raise Unavailable(
                    f"job {created.id} was triggered, but job {other.id} that still runs could "
                    "not be cancelled (the job engine, Temporal, is unreachable); cancel it, "
                    "or trigger again"
                ) from err
            logger.info(
                "schedule trigger cancelled a running job",
                extra={"schedule_id": row.id, "job_id": other.id, "by_job_id": created.id},
            )

    async def backfill(
        self,
        principal: Principal,
        schedule_id: str,
        start: datetime,
        end: datetime,
        overlap: Overlap = Overlap.BUFFER_ALL,
    ) -> int:
        """Fire the runs the schedule would have had between start and end, as if those
        times passed now; returns how many. At most MAX_BACKFILL_RUNS at once."""
        if start.tzinfo is None or end.tzinfo is None:
            raise InvalidInput("start and end need a time zone, e.g. 2026-12-01T00:00:00Z")
        if end <= start:
            raise InvalidInput("end must be after start")
        if end > utcnow() + timedelta(minutes=1):
            raise InvalidInput("end is in the future; a backfill covers past times only")
        row = await self._row(principal, schedule_id)
        times = await self.matching_times(row, start, end)
        if len(times) > MAX_BACKFILL_RUNS:
            raise InvalidInput(
                f"the range holds {len(times)} runs; backfill at most {MAX_BACKFILL_RUNS} at a time"
            )
        if times:
            backfill = ScheduleBackfill(start_at=start, end_at=end, overlap=OVERLAPS[overlap])
            await self._call(row, lambda h, t: h.backfill(backfill, rpc_timeout=t))
        return len(times)

    async def delete(self, principal: Principal, schedule_id: str) -> None:
        """Delete the schedule and its Temporal Schedule; the jobs it fired stay."""
        row = await self._row(principal, schedule_id)
        try:
            await self._call(row, lambda h, t: h.delete(rpc_timeout=t))
        except NotFound:
            pass  # Temporal never had it (see the module's doc)
        async with self.runtime.db.write() as session:
            fresh = await store.get_schedule(
                session, organization_id=principal.organization_id, schedule_id=schedule_id
            )
            await store.delete_schedule(session, row=fresh)

    # Reading.

    async def get(self, principal: Principal, schedule_id: str) -> ScheduleView:
        row = await self._row(principal, schedule_id)
        view = await self._view(row, strict=True)
        async with self.runtime.db.read() as session:
            recent = await store.recent_jobs(session, schedule_id=row.id)
            view.jobs = {job.id: job for job in recent}
            await _recent_runs(session, [view])
            view.misses = await store.list_misses(session, schedule_id=row.id)
        return view

    async def page(
        self, principal: Principal, *, limit: int, cursor: str | None
    ) -> tuple[list[ScheduleView], str | None]:
        """A page of schedules, each with Temporal's description (asked concurrently; a
        schedule Temporal cannot describe now is listed with state unknown)."""
        async with self.runtime.db.read() as session:
            rows, next_cursor = await store.list_schedules(
                session, organization_id=principal.organization_id, limit=limit, cursor=cursor
            )
        views = list(await asyncio.gather(*(self._view(row, strict=False) for row in rows)))
        async with self.runtime.db.read() as session:
            await _recent_runs(session, views)
        return views, next_cursor

    async def matching_times(
        self, row: ScheduleRow, start: datetime, end: datetime
    ) -> list[datetime]:
        """The times the schedule matches between start and end, as Temporal computes them."""
        start_ts, end_ts = Timestamp(), Timestamp()
        start_ts.FromDatetime(start)
        end_ts.FromDatetime(end)
        request = ListScheduleMatchingTimesRequest(
            namespace=self.runtime.temporal.namespace,
            schedule_id=row.temporal_id,
            start_time=start_ts,
            end_time=end_ts,
        )
        response = await self._call(
            row,
            lambda _h, t: self.runtime.temporal.workflow_service.list_schedule_matching_times(
                request, timeout=t
            ),
        )
        return [ts.ToDatetime(tzinfo=start.tzinfo) for ts in response.start_time]

    async def _row(self, principal: Principal, schedule_id: str) -> ScheduleRow:
        async with self.runtime.db.read() as session:
            return await store.get_schedule(
                session, organization_id=principal.organization_id, schedule_id=schedule_id
            )

    async def _view(self, row: ScheduleRow, *, strict: bool) -> ScheduleView:
        try:
            description: ScheduleDescription = await self._call(
                row, lambda h, t: h.describe(rpc_timeout=t)
            )
        except NotFound:
            return ScheduleView(row, None, "missing")
        except Unavailable:
            if strict:
                raise
            return ScheduleView(row, None, "unknown")
        state = "paused" if description.schedule.state.paused else "active"
        return ScheduleView(row, description, state)

    async def _call(self, row: ScheduleRow, call: Any) -> Any:
        """One Temporal call on the schedule's handle, its errors in jobdeck's terms."""
        handle: ScheduleHandle = self.runtime.temporal.get_schedule_handle(row.temporal_id)
        try:
            async with bounded(self.settings) as rpc_timeout:
                return await call(handle, rpc_timeout)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise NotFound(
                    f"schedule {row.id} is not known to the job engine (Temporal); delete it "
                    "and create it again"
                ) from err
            if err.status == RPCStatusCode.INVALID_ARGUMENT:
                raise InvalidInput(f"Temporal refused it: {err.message}") from err
            raise Unavailable("the job engine (Temporal) is unreachable; try again") from err
        except RuntimeError as err:  # a lazy client's failed connect
            raise Unavailable("the job engine (Temporal) is unreachable; try again") from err


@dataclass
class ActionUpgrades:
    """What `upgrade_actions` did: the schedules it asked Temporal about (those whose row
    was behind), how many of them it moved, how many Temporal could not answer for."""

    asked: int = 0
    moved: int = 0
    failed: int = 0


async def upgrade_actions(runtime: Runtime) -> ActionUpgrades:
    """Move each schedule whose Temporal Schedule still starts its job's workflow itself
    (created before the scheduled-run workflow) to the current action, and mark its row
    with the version it then has. The worker runs it as it starts: only the rows not
    marked yet are asked about, so once every schedule is marked a start makes no Temporal
    call. A schedule Temporal cannot answer for now (unreachable, or not known to it: a
    worker on the wrong namespace must not mark them all) stays unmarked, asked again at
    the next start."""
    async with runtime.db.read() as session:
        rows = await store.schedules_behind(session, action_version=ACTION_VERSION)
    done = ActionUpgrades()
    for row in rows:
        done.asked += 1
        try:
            done.moved += await _upgrade_action(runtime.settings, runtime.temporal, row)
        except RPCError as err:
            done.failed += 1
            logger.warning(
                "cannot upgrade the schedule's action",
                extra={"schedule_id": row.id, "error": str(err)},
            )
            continue
        # Marked only once Temporal has the action: dying before this asks again, no harm.
        async with runtime.db.write() as session:
            await store.mark_action_version(
                session, schedule_id=row.id, action_version=ACTION_VERSION
            )
    if done.asked:
        logger.info(
            "schedule actions upgraded",
            extra={"asked": done.asked, "moved": done.moved, "failed": done.failed},
        )
    return done


async def _upgrade_action(settings: Settings, temporal: Client, row: ScheduleRow) -> bool:
    action = scheduled_run_action(
        settings,
        row.id,
        row.organization_id,
        row.user_id,
        ScheduleDefinition.from_json(row.definition),
    )
    moved = False

    def updater(current: ScheduleUpdateInput) -> ScheduleUpdate | None:
        nonlocal moved
        schedule = current.description.schedule
        if is_current_action(schedule.action):
            return None
        schedule.action, moved = action, True
        return ScheduleUpdate(schedule)

    await temporal.get_schedule_handle(row.temporal_id).update(
        updater, rpc_timeout=timedelta(seconds=10)
    )
    return moved


def run_job_ids(action: ScheduleActionExecution) -> list[str]:
    """The ids the job of one of Temporal's recent runs may have: the run's first run id
    (the scheduled-run workflow's job), else its workflow id (a run of a schedule created
    before that workflow, whose job id was its workflow id)."""
    if not isinstance(action, ScheduleActionExecutionStartWorkflow):
        return []
    return [action.first_execution_run_id, action.workflow_id]


async def _recent_runs(session: AsyncSession, views: list[ScheduleView]) -> None:
    """Fill in the jobs and the refusals of Temporal's recent runs of each schedule (one
    query each for all the views), so a run is shown with its job's status, or refused,
    and unrecorded only while its check has not answered yet."""
    ids_of = {
        view.row.id: {
            job_id for a in view.description.info.recent_actions for job_id in run_job_ids(a.action)
        }
        for view in views
        if view.description is not None
    }
    ids = sorted({job_id for own in ids_of.values() for job_id in own})
    if not ids:
        return
    jobs = await store.jobs_by_id(session, job_ids=ids)
    refusals = await store.refused_runs(session, schedule_ids=list(ids_of), job_ids=ids)
    for view in views:
        own = ids_of.get(view.row.id, set())
        view.jobs.update({i: job for i, job in jobs.items() if i in own})
        view.refusals = {i: miss for i, miss in refusals.items() if miss.schedule_id == view.row.id}


def _refusal(row: ScheduleRow, overlap: Overlap, running: list[Job]) -> str:
    """Why a trigger did not start: the job that runs, and the policy that says so."""
    newest = running[0]
    others = len(running) - 1
    more = f" (and {others} other job{'s' if others > 1 else ''} of it)" if others else ""
    return (
        f"schedule {row.name!r} was not triggered: its job {newest.id} ({newest.name}) is "
        f"still {newest.status}{more}, and its overlap policy {overlap.value!r} starts no run "
        "while one is running. A trigger is not buffered to run later (bufferOne and "
        "bufferAll buffer the schedule's own firings only): trigger again once that job "
        "has ended, or cancel it first"
    )


def _note(note: str | None) -> str | None:
    if note is None:
        return None
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"note: at most {MAX_NOTE} characters")
    return note or None


def run_summary(view: ScheduleView) -> dict[str, Any]:
    """Temporal's counters of the schedule's runs."""
    info = view.description.info if view.description else None
    return {
        "total": info.num_actions if info else None,
        "missedCatchupWindow": info.num_actions_missed_catchup_window if info else None,
        "skippedOverlap": info.num_actions_skipped_overlap if info else None,
        "running": len(info.running_actions) if info else None,
    }
