"""Schedules on Temporal Schedules (issue 15): create, list, one with its next and last
runs, update, pause and resume with a note, trigger now, backfill, delete."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status

from jobdeck.activities.scheduled import (
    JOB_REFUSED,
    ORGANIZATION_GONE,
    OWNER_GONE,
    OWNER_REVOKED,
)
from jobdeck.api.deps import CurrentUser, RegistryDep, RuntimeDep
from jobdeck.api.ratelimit import RATE_LIMITED, CreationLimit
from jobdeck.api.schedule_schemas import (
    CronPreview,
    ScheduleBackfillBody,
    ScheduleBackfillPublic,
    ScheduleCreate,
    ScheduledJobPublic,
    ScheduledPipelinePublic,
    ScheduleLinks,
    ScheduleMissPublic,
    ScheduleNote,
    SchedulePublic,
    ScheduleRunCounts,
    ScheduleRunPublic,
    SchedulesPublic,
    ScheduleUpdate,
)
from jobdeck.api.schemas import Problem
from jobdeck.clock import utcnow
from jobdeck.config import Settings
from jobdeck.schedules.cron import check_cron, check_timezone, describe_cron, next_times
from jobdeck.services.schedule_temporal import is_current_action
from jobdeck.services.schedules import (
    NEXT_RUNS,
    ScheduleService,
    ScheduleView,
    run_job_ids,
    run_summary,
)
from jobdeck.store import pages

router = APIRouter(prefix="/api/schedules", tags=["schedules"])

REFUSED = "refused"  # a run's status when its checks refused it: it started no job

MISS_REASONS = {
    "catchup_window": "Temporal could not fire it within the catch-up window (it was down "
    "or overloaded); it was skipped, not fired late",
    "overlap": "the previous run was still going and the overlap policy skipped this one",
    ORGANIZATION_GONE: "the schedule's organization no longer exists; no job was started",
    OWNER_GONE: "the schedule's owner is no longer in its organization; no job was started",
    OWNER_REVOKED: "every API key of the schedule's owner is revoked, so no job was started "
    "in their name; recreate the schedule as someone who can create jobs",
    JOB_REFUSED: "the job was refused as POST /api/jobs would refuse it (its type cannot run "
    "on this deployment now, or its data or pipeline is no longer valid); no job was started",
}


async def get_schedules(runtime: RuntimeDep, registry: RegistryDep) -> ScheduleService:
    return ScheduleService(runtime, registry)


SchedulesDep = Annotated[ScheduleService, Depends(get_schedules)]


def _aware(when: datetime | None) -> datetime:
    """A run's time for ordering (SQLite hands back naive UTC times)."""
    if when is None:
        return datetime.min.replace(tzinfo=UTC)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def schedule_public(view: ScheduleView, settings: Settings) -> SchedulePublic:
    row, definition, description = view.row, view.definition, view.description
    state = description.schedule.state if description else None
    info = description.info if description else None
    current = description is None or is_current_action(description.schedule.action)
    last_runs: dict[str, ScheduleRunPublic] = {}
    for action in info.recent_actions if info else []:
        ids = run_job_ids(action.action)
        if not ids:
            continue
        refusal = next((view.refusals[i] for i in ids if i in view.refusals), None)
        if refusal is not None and not any(i in view.jobs for i in ids):
            # Refused when it fired: no job, so no link to one.
            last_runs[ids[0]] = ScheduleRunPublic(
                scheduled_at=action.scheduled_at,
                started_at=action.started_at,
                status=REFUSED,
                reason=refusal.reason,
                message=MISS_REASONS.get(refusal.reason, refusal.reason),
            )
            continue
        # Not recorded yet: named by the id its job will have.
        job_id = next((i for i in ids if i in view.jobs), ids[0] if current else ids[-1])
        job = view.jobs.get(job_id)
        last_runs[job_id] = ScheduleRunPublic(
            job_id=job_id,
            scheduled_at=action.scheduled_at,
            started_at=action.started_at,
            status=job.status if job else None,
            job=f"/api/jobs/{job_id}",
        )
    # Triggered runs, and runs older than Temporal's recent list, from the jobs table.
    for job in view.jobs.values():
        if job.id not in last_runs:
            last_runs[job.id] = ScheduleRunPublic(
                job_id=job.id,
                started_at=job.created_at,
                status=job.status,
                job=f"/api/jobs/{job.id}",
            )
    newest_first = sorted(
        last_runs.values(),
        key=lambda r: _aware(r.started_at or r.scheduled_at),
        reverse=True,
    )
    ui = settings.temporal_ui_url.rstrip("/")
    return SchedulePublic(
        id=row.id,
        name=row.name,
        state=view.state,
        note=state.note if state else None,
        job=ScheduledJobPublic(
            type=definition.job.type,
            name=definition.job.name,
            description=definition.job.description,
            data=definition.job.data,
            priority=definition.job.priority,
        ),
        pipeline=(
            ScheduledPipelinePublic(
                id=definition.pipeline.id,
                version=definition.pipeline.version or 1,
                inputs=definition.pipeline.inputs,
                pipeline=f"/api/pipelines/{definition.pipeline.id}",
            )
            if definition.pipeline
            else None
        ),
        cron=definition.cron,
        cron_text=describe_cron(definition.cron) if definition.cron else None,
        interval=definition.interval_s,
        timezone=definition.timezone,
        overlap=definition.overlap.value,
        catchup_window=definition.catchup_window_s or int(settings.schedule_catchup_window_s),
        jitter=definition.jitter_s,
        end_at=definition.end_at,
        remaining_runs=state.remaining_actions if state and state.limited_actions else None,
        next_runs=list(info.next_action_times[:NEXT_RUNS]) if info else [],
        last_runs=newest_first[:10],
        missed=[
            ScheduleMissPublic(
                reason=m.reason,
                message=MISS_REASONS.get(m.reason, m.reason),
                count=m.count,
                detected_at=m.detected_at,
            )
            for m in view.misses
        ],
        runs=ScheduleRunCounts(**run_summary(view)),
        created_at=row.created_at,
        updated_at=row.updated_at,
        links=ScheduleLinks(
            self=f"/api/schedules/{row.id}",
            jobs=f"/api/jobs?schedule={row.id}",
            temporal=f"{ui}/namespaces/{settings.temporal_namespace}/schedules/"
            + row.temporal_id.replace("/", "%2F"),
        ),
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SchedulePublic)
async def create_schedule(
    body: ScheduleCreate,
    runtime: RuntimeDep,
    schedules: SchedulesDep,
    principal: CurrentUser,
    response: Response,
) -> SchedulePublic:
    """Create a schedule: a Temporal Schedule firing a job or a pipeline run by cron or interval."""
    view = await schedules.create(
        principal, body.name, body.definition(), paused=body.paused, note=body.note
    )
    response.headers["Location"] = f"/api/schedules/{view.row.id}"
    return schedule_public(view, runtime.settings)


@router.get("", response_model=SchedulesPublic)
async def list_schedules(
    runtime: RuntimeDep,
    schedules: SchedulesDep,
    principal: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=pages.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> SchedulesPublic:
    """List the organization's schedules, newest first, each with its next runs."""
    views, next_cursor = await schedules.page(principal, limit=limit, cursor=cursor)
    return SchedulesPublic(
        data=[schedule_public(v, runtime.settings) for v in views], next_cursor=next_cursor
    )


@router.get("/preview", response_model=CronPreview)
async def preview_cron(
    principal: CurrentUser,
    cron: Annotated[str, Query(max_length=200, description="A cron expression")],
    timezone: Annotated[str, Query(max_length=64)] = "UTC",
) -> CronPreview:
    """A cron in words and its next 5 times, for a form (nothing is created)."""
    expression = check_cron(cron)
    zone = check_timezone(timezone)
    return CronPreview(
        cron=expression,
        text=describe_cron(expression),
        timezone=timezone,
        next_runs=next_times(expression, zone, utcnow(), NEXT_RUNS),
    )


@router.get("/{schedule_id}", response_model=SchedulePublic)
async def get_schedule(
    schedule_id: str, runtime: RuntimeDep, schedules: SchedulesDep, principal: CurrentUser
) -> SchedulePublic:
    """One schedule: its next 5 runs, its last runs with their jobs, and missed runs."""
    view = await schedules.get(principal, schedule_id)
    return schedule_public(view, runtime.settings)


@router.put("/{schedule_id}", response_model=SchedulePublic)
async def update_schedule(
    schedule_id: str,
    body: ScheduleUpdate,
    runtime: RuntimeDep,
    schedules: SchedulesDep,
    principal: CurrentUser,
) -> SchedulePublic:
    """Replace a schedule's definition; its jobs so far stay linked to it."""
    view = await schedules.update(
        principal, schedule_id, body.name, body.definition(), paused=body.paused, note=body.note
    )
    return schedule_public(view, runtime.settings)


@router.post("/{schedule_id}/pause", response_model=SchedulePublic)
async def pause_schedule(
    schedule_id: str,
    runtime: RuntimeDep,
    schedules: SchedulesDep,
    principal: CurrentUser,
    body: ScheduleNote | None = None,
) -> SchedulePublic:
    """Pause a schedule, with a note saying why."""
    view = await schedules.pause(principal, schedule_id, body.note if body else None)
    return schedule_public(view, runtime.settings)


@router.post("/{schedule_id}/resume", response_model=SchedulePublic)
async def resume_schedule(
    schedule_id: str,
    runtime: RuntimeDep,
    schedules: SchedulesDep,
    principal: CurrentUser,
    body: ScheduleNote | None = None,
) -> SchedulePublic:
    """Resume a paused schedule, with a note."""
    view = await schedules.resume(principal, schedule_id, body.note if body else None)
    return schedule_public(view, runtime.settings)


TRIGGER_REFUSED: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "A job of the schedule still runs and its overlap policy (skip, "
        "bufferOne, bufferAll) starts no run meanwhile; a trigger is not buffered",
        "model": Problem,
    }
}


@router.post(
    "/{schedule_id}/trigger",
    status_code=202,
    response_model=SchedulePublic,
    dependencies=[CreationLimit],
    responses={**RATE_LIMITED, **TRIGGER_REFUSED},
)
async def trigger_schedule(
    schedule_id: str,
    runtime: RuntimeDep,
    schedules: SchedulesDep,
    principal: CurrentUser,
    response: Response,
) -> SchedulePublic:
    """Start one run now (also while paused): a job, checked as POST /api/jobs checks one,
    under the schedule's overlap policy as to its jobs still running: skip, bufferOne and
    bufferAll answer 409 naming the running job (a trigger is not buffered); cancelOther
    and terminateOther cancel it and start this one; allowAll starts this one."""
    job = await schedules.trigger(principal, schedule_id)
    response.headers["Location"] = f"/api/jobs/{job.id}"
    view = await schedules.get(principal, schedule_id)
    return schedule_public(view, runtime.settings)


@router.post("/{schedule_id}/backfill", status_code=202, response_model=ScheduleBackfillPublic)
async def backfill_schedule(
    schedule_id: str,
    body: ScheduleBackfillBody,
    schedules: SchedulesDep,
    principal: CurrentUser,
) -> ScheduleBackfillPublic:
    """Fire the runs a past time range would have had, as if it passed now."""
    runs = await schedules.backfill(principal, schedule_id, body.start, body.end, body.overlap)
    return ScheduleBackfillPublic(runs=runs)


@router.delete("/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_schedule(
    schedule_id: str, schedules: SchedulesDep, principal: CurrentUser
) -> Response:
    """Delete a schedule and its Temporal Schedule; the jobs it fired stay."""
    await schedules.delete(principal, schedule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
