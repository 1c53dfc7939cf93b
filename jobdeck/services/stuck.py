"""The watchdog's Temporal Schedule (stuck jobs, missed schedule runs): created or brought
up to date by every worker at start, idempotently, one per deployment (per task queue)."""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from jobdeck.activities.stuck import WatchInput
from jobdeck.registry import JobTypeRegistry
from jobdeck.runtime import Runtime
from jobdeck.workflows.stuck import WatchdogWorkflow

logger = logging.getLogger(__name__)


def watchdog_schedule_id(task_queue: str) -> str:
    return f"jobdeck-watchdog/{task_queue}"


async def ensure_watchdog_schedule(runtime: Runtime, registry: JobTypeRegistry) -> str | None:
    """Create the watchdog's schedule, or update it to this worker's settings; delete it
    when the interval is 0. Returns its id (None when off)."""
    settings = runtime.settings
    schedule_id = watchdog_schedule_id(settings.task_queue)
    handle = runtime.temporal.get_schedule_handle(schedule_id)
    if settings.stuck_check_interval_s <= 0:
        try:
            await handle.delete()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
        return None
    params = WatchInput(
        queues={t.name: t.task_queue or settings.task_queue for t in registry.all()}
    )
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            WatchdogWorkflow.run,
            params,
            id=f"jobdeck-watchdog-{settings.task_queue}",
            task_queue=settings.task_queue,
            execution_timeout=timedelta(minutes=10),
        ),
        spec=ScheduleSpec(
            intervals=[
                ScheduleIntervalSpec(
                    every=timedelta(seconds=max(1.0, settings.stuck_check_interval_s))
                )
            ]
        ),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(minutes=1)
        ),
    )
    try:
        await runtime.temporal.create_schedule(schedule_id, schedule)
        logger.info("watchdog schedule created", extra={"schedule_id": schedule_id})
    except ScheduleAlreadyRunningError:

        def updater(current: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule.state = current.description.schedule.state
            return ScheduleUpdate(schedule)

        await handle.update(updater)
    return schedule_id
