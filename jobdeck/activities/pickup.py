"""A worker interceptor that marks a job active when a worker slot picks up its first step.

That moment is what `active` means: the job left the task queue, in the queue's priority
order, and runs. Marking it here, inside the first step's own execution, costs no extra
activity round trip through the Temporal server (the job's workflow used to run a
separate `mark_started` activity first). Job types whose first steps only prepare (a
training waits for a GPU slot after its bookkeeping) set `marks_started = False` on their
workflow and mark the start themselves.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from jobdeck.activities.records import JobRecords

logger = logging.getLogger(__name__)

_REMEMBERED = 10_000  # job ids known started, so later steps skip the write


class PickUp(Interceptor):
    def __init__(self, records: JobRecords, starts_on_pickup: Callable[[str], bool]) -> None:
        self.records = records
        self.starts_on_pickup = starts_on_pickup
        self.started: OrderedDict[str, None] = OrderedDict()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _PickUpInbound(next, self)


class _PickUpInbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, owner: PickUp) -> None:
        super().__init__(next)
        self.owner = owner

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        job_id = info.workflow_id
        owner = self.owner
        if (
            job_id
            and job_id not in owner.started
            and not info.activity_type.startswith("jobs.")  # the bookkeeping itself
            and owner.starts_on_pickup(info.workflow_type or "")
        ):
            await owner.records.start_pending(job_id)
            owner.started[job_id] = None
            if len(owner.started) > _REMEMBERED:
                owner.started.popitem(last=False)
        return await super().execute_activity(input)
