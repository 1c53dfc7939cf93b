"""A jobdeck schedule in Temporal's terms: its id, its spec (with the runs a spring
daylight-saving gap would swallow, see schedules/cron.py) and its action, which starts
the scheduled-run workflow (workflows/scheduled.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio.client import (
    Schedule,
    ScheduleAction,
    ScheduleActionStartWorkflow,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.common import Priority

from jobdeck.activities.scheduled import SCHEDULED_RUN_WORKFLOW, ScheduledRunInput, ScheduledRunJob
from jobdeck.clock import utcnow
from jobdeck.config import Settings
from jobdeck.fairness.limits import fairness_weight
from jobdeck.schedules.cron import check_timezone, spring_gap_runs
from jobdeck.schedules.definition import Overlap, ScheduleDefinition

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


# The version of the action `scheduled_run_action` builds, recorded on each schedule's row
# (schedules.action_version; 0 on rows made before 0019: not known). Bump it when the
# action changes so that schedules made before must be moved to it: a worker's start moves
# the rows behind (services/schedules.upgrade_actions), once each.
ACTION_VERSION = 1


def scheduled_run_action(
    settings: Settings,
    row_id: str,
    organization_id: str,
    user_id: str,
    definition: ScheduleDefinition,
) -> ScheduleActionStartWorkflow:
    """The action of a jobdeck schedule: it starts the scheduled-run workflow on the
    default task queue, which checks the job and starts it (workflows/scheduled.py)."""
    job = definition.job
    return ScheduleActionStartWorkflow(
        SCHEDULED_RUN_WORKFLOW,
        ScheduledRunInput(
            schedule_id=row_id,
            organization_id=organization_id,
            user_id=user_id,
            job=ScheduledRunJob(
                type=job.type,
                name=job.name,
                data=job.data,
                description=job.description,
                priority=job.priority,
            ),
        ),
        id=row_id,
        task_queue=settings.task_queue,
        # Like the job's own workflow: its organization's share of the default queue.
        priority=Priority(
            priority_key=job.priority,
            fairness_key=organization_id,
            fairness_weight=fairness_weight(settings, organization_id),
        ),
    )


def is_current_action(action: ScheduleAction) -> bool:
    """Whether a Temporal Schedule's action is the one `scheduled_run_action` builds (a
    schedule created before started the job's workflow itself, with no checks)."""
    return isinstance(action, ScheduleActionStartWorkflow) and action.workflow == (
        SCHEDULED_RUN_WORKFLOW
    )


def temporal_schedule(
    settings: Settings,
    row_id: str,
    organization_id: str,
    user_id: str,
    definition: ScheduleDefinition,
    state: ScheduleState,
) -> Schedule:
    """The Temporal Schedule of a jobdeck schedule."""
    action = scheduled_run_action(settings, row_id, organization_id, user_id, definition)
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
