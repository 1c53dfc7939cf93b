"""The watchdog workflow (issue 15): one short round of the stuck-job check and the
schedules' missed-run check, started by a Temporal Schedule that the worker keeps
(services/stuck.py), so detection needs no daemon of its own.

Polling pattern: a Temporal Schedule starts one short workflow per interval (overlap
skip: a slow round is never doubled); each run is one activity and ends.

No queries, signals or updates.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from jobdeck.activities.stuck import Watchdog, WatchInput, WatchResult

WATCHDOG_WORKFLOW = "jobdeck.watchdog"


@workflow.defn(name=WATCHDOG_WORKFLOW)
class WatchdogWorkflow:
    @workflow.run
    async def run(self, params: WatchInput) -> WatchResult:
        result: WatchResult = await workflow.execute_activity_method(
            Watchdog.check,
            params,
            start_to_close_timeout=timedelta(minutes=5),
            heartbeat_timeout=timedelta(minutes=2),
            # The next scheduled round tries again; a few quick retries cover a blip.
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                maximum_interval=timedelta(seconds=10),
                maximum_attempts=3,
            ),
        )
        return result


WATCHDOG_ACTIVITIES = [Watchdog.check]
