"""Eager activities, only while the task queue has no backlog.

An eager activity comes back to the worker with the answer to the workflow task that
scheduled it, instead of a trip through the task queue: one server round trip fewer for
every activity (bench/throughput.py: jobdeck/bare 0.77 -> 0.88; bench/pipelines.py's http
steps 0.72 -> 0.91). But it skips the queue, and with it the queue's priority and fairness
order: with eager activities always on, while organization A's flood kept the slots busy
A's next steps took each slot that freed ahead of organization B's step waiting in the
queue (bench/fairness.py, B's p95 wait-to-start: 14x idle -> 83x).

So a worker asks for eager execution only while its task queue has no backlog: no
activity that came through the queue in the last HOLD_S seconds waited there more than
BACKLOG_WAIT_S (its schedule-to-start, both ends the server's clock). With a backlog every
activity goes through the queue, in its order. The flag is a hint on the command, not
part of the history Temporal checks on replay, so reading the worker's state for it keeps
workflows deterministic.
"""

from __future__ import annotations

import time
from typing import Any

from temporalio import activity, workflow
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    StartActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

BACKLOG_WAIT_S = 0.05
HOLD_S = 2.0


class QueueBacklog:
    """Per task queue, until when it counts as backed up (time.monotonic)."""

    def __init__(self, hold_s: float = HOLD_S) -> None:
        self.hold_s = hold_s
        self._until: dict[str, float] = {}

    def saw(self, task_queue: str, waited_s: float) -> None:
        if waited_s > BACKLOG_WAIT_S:
            self._until[task_queue] = time.monotonic() + self.hold_s

    def backed_up(self, task_queue: str) -> bool:
        return time.monotonic() < self._until.get(task_queue, 0.0)


class EagerWhenIdle(Interceptor):
    """Watches how long activities waited in their queue; asks for eager execution of the
    activities workflows schedule only while that queue has no backlog."""

    def __init__(self, hold_s: float = HOLD_S) -> None:
        self.backlog = QueueBacklog(hold_s)

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Watch(next, self.backlog)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        backlog = self.backlog

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(_Eager(outbound, backlog))

        return Inbound


class _Watch(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, backlog: QueueBacklog) -> None:
        super().__init__(next)
        self.backlog = backlog

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        if not info.is_local:  # (a local activity never went through the queue)
            waited = (info.started_time - info.current_attempt_scheduled_time).total_seconds()
            self.backlog.saw(info.task_queue, waited)
        return await super().execute_activity(input)


class _Eager(WorkflowOutboundInterceptor):
    def __init__(self, next: WorkflowOutboundInterceptor, backlog: QueueBacklog) -> None:
        super().__init__(next)
        self.backlog = backlog

    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        queue = input.task_queue or workflow.info().task_queue
        input.disable_eager_execution = self.backlog.backed_up(queue)
        return super().start_activity(input)
