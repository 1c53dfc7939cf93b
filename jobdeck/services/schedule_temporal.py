"""A jobdeck schedule in Temporal's terms: its id, its spec (with the runs a spring
daylight-saving gap would swallow, see schedules/cron.py) and its start-workflow action."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.common import Priority, TypedSearchAttributes

from jobdeck.clock import utcnow
from jobdeck.config import Settings
from jobdeck.domain import JobSpec
from jobdeck.schedules.cron import check_timezone, spring_gap_runs
from jobdeck.schedules.definition import Overlap, ScheduleDefinition
from jobdeck.temporal import job_search_attributes
from jobdeck.workflows.jobtype import JobType

OVERLAPS = {
    Overlap.SKIP: ScheduleOverlapPolicy.SKIP,
    Overlap.BUFFER_ONE: ScheduleOverlapPolicy.BUFFER_ONE,
    Overlap.BUFFER_ALL: ScheduleOverlapPolicy.BUFFER_ALL,
    Overlap.CANCEL_OTHER: ScheduleOverlapPolicy.CANCEL_OTHER,
    Overlap.TERMINATE_OTHER: ScheduleOverlapPolicy.TERMINATE_OTHER,
    Overlap.ALLOW_ALL: ScheduleOverlapPolicy.ALLOW_ALL,
}


def temporal_id(organization_id: str, schedule_id: str) -> str:
    """The Temporal Schedule's id: the organization's and the schedule's, tied."""
    return f"jobdeck/{organization_id}/{schedule_id}"


def _at(time: datetime) -> ScheduleCalendarSpec:
    return ScheduleCalendarSpec(
        second=(ScheduleRange(0),),
        minute=(ScheduleRange(time.minute),),
        hour=(ScheduleRange(time.hour),),
        day_of_month=(ScheduleRange(time.day),),
        month=(ScheduleRange(time.month),),
        year=(ScheduleRange(time.year),),
    )


def temporal_spec(definition: ScheduleDefinition, now: datetime) -> ScheduleSpec:
    """When the schedule fires, in Temporal's terms, with a run for each spring
    daylight-saving gap that would swallow a cron time (see schedules/cron.py)."""
    calendars: list[ScheduleCalendarSpec] = []
    if definition.cron is not None:
        zone = check_timezone(definition.timezone)
        calendars = [_at(t) for t in spring_gap_runs(definition.cron, zone, now)]
    return ScheduleSpec(
        cron_expressions=[definition.cron] if definition.cron else [],
        intervals=(
            [ScheduleIntervalSpec(every=timedelta(seconds=definition.interval_s))]
            if definition.interval_s
            else []
        ),
        calendars=calendars,
        time_zone_name=definition.timezone,
        jitter=timedelta(seconds=definition.jitter_s) if definition.jitter_s else None,
        end_at=definition.end_at,
    )


def temporal_schedule(
    settings: Settings,
    job_type: JobType,
    row_id: str,
    organization_id: str,
    user_id: str,
    definition: ScheduleDefinition,
    state: ScheduleState,
) -> Schedule:
    """The Temporal Schedule of a jobdeck schedule: its action starts the job type's
    workflow on the type's task queue with a JobSpec whose job id each run fills in."""
    spec = JobSpec(
        job_id="",  # each run's job id is its workflow id (workflows/lifecycle.py)
        organization_id=organization_id,
        user_id=user_id,
        type=job_type.name,
        name=definition.job.name,
        data=definition.job.data,
        description=definition.job.description,
        priority=definition.job.priority,
        schedule_id=row_id,
        progress_interval_s=settings.progress_interval_s,
    )
    action = ScheduleActionStartWorkflow(
        job_type.workflow.run,
        spec,
        id=row_id,
        task_queue=job_type.task_queue or settings.task_queue,
        typed_search_attributes=(
            job_search_attributes(spec)
            if settings.temporal_search_attributes
            else TypedSearchAttributes.empty
        ),
        priority=Priority(priority_key=definition.job.priority),
    )
    assert definition.catchup_window_s is not None
    return Schedule(
        action=action,
        spec=temporal_spec(definition, utcnow()),
        policy=SchedulePolicy(
            overlap=OVERLAPS[definition.overlap],
            catchup_window=timedelta(seconds=definition.catchup_window_s),
        ),
        state=state,
    )
