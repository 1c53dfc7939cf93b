"""`notifications.deliver`: one notification to one channel, durably.

A loop of single tries (the polling pattern "a loop of short activities", bounded by the
retry schedule, so no continue-as-new): each try is one `notifications.attempt` activity
that sends, records the try in the delivery log, and says how long to wait before the
next one (the schedule with jitter, or a receiver's retry_after); the wait is a durable
timer, so a worker or server restart loses nothing. The receiver's failures are answers,
not activity errors; the activity's own retry policy covers only an outage of the
database or a lost worker.

No queries, signals or updates: the delivery log in the database is the state people see.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from jobdeck.activities.delivery import AttemptInput, Deliveries
    from jobdeck.notifications.events import DELIVERY_WORKFLOW, DeliveryInput

# Covers the longest try the settings allow (notification_timeout_s <= 60 s) and the
# address check and log write around it; short, because it is also how long a try whose
# worker was lost (or whose task an overloaded server dropped) waits before it is retried.
ATTEMPT_TIMEOUT = timedelta(seconds=90)
INFRASTRUCTURE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)


@workflow.defn(name=DELIVERY_WORKFLOW)
class DeliveryWorkflow:
    @workflow.run
    async def run(self, delivery: DeliveryInput) -> None:
        number = 1
        while True:
            outcome = await workflow.execute_activity_method(
                Deliveries.attempt,
                AttemptInput(delivery_id=delivery.delivery_id, number=number),
                start_to_close_timeout=ATTEMPT_TIMEOUT,
                retry_policy=INFRASTRUCTURE_RETRY,
            )
            if outcome.done or outcome.retry_in_s is None:
                return
            await workflow.sleep(timedelta(seconds=outcome.retry_in_s))
            number += 1
