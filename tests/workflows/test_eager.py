"""Eager activities only while the task queue has no backlog (jobdeck/activities/eager.py), on the
real dev server: a worker with one activity slot and three workflows at once sees its
queue back up, and from then on its workflows schedule activities through the queue; a
lone workflow on an idle queue asks for eager execution."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import (
    Interceptor,
    StartActivityInput,
    UnsandboxedWorkflowRunner,
    Worker,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from jobdeck.activities.eager import EagerWhenIdle

# Longer than the default, so a slow machine cannot end the backlog before it is checked.
HOLD_S = 5.0


@activity.defn(name="eager-probe.hold")
async def hold(seconds: float) -> None:
    await asyncio.sleep(seconds)


@workflow.defn(name="eager-probe")
class Probe:
    @workflow.run
    async def run(self, seconds: float) -> None:
        await workflow.execute_activity(hold, seconds, start_to_close_timeout=timedelta(seconds=30))


class Asked(Interceptor):
    """Inside EagerWhenIdle: what each activity was scheduled with."""

    def __init__(self) -> None:
        self.eager: list[bool] = []

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        seen = self.eager

        class Outbound(WorkflowOutboundInterceptor):
            def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
                seen.append(not input.disable_eager_execution)
                return super().start_activity(input)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound


async def test_a_backed_up_queue_turns_eager_activities_off_until_it_drains(
    temporal_client: Client,
) -> None:
    queue = f"eager-{uuid.uuid4().hex[:8]}"
    eager, asked = EagerWhenIdle(HOLD_S), Asked()
    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=[Probe],
        activities=[hold],
        # A workflow's calls go through the last interceptor's outbound first: `asked`
        # sees what EagerWhenIdle decided.
        interceptors=[asked, eager],
        max_concurrent_activities=1,
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):

        async def probe(seconds: float) -> None:
            await temporal_client.execute_workflow(
                Probe.run, seconds, id=f"probe-{uuid.uuid4().hex}", task_queue=queue
            )

        # Idle: the one activity may come back with the workflow task.
        await probe(0)
        assert asked.eager == [True]
        assert not eager.backlog.backed_up(queue)

        # One slot, three activities of 0.3 s: two wait in the queue.
        await asyncio.gather(*(probe(0.3) for _ in range(3)))
        assert eager.backlog.backed_up(queue)
        asked.eager.clear()
        await probe(0)
        assert asked.eager == [False]  # through the queue, in its order

        # The backlog is gone once nothing has waited for HOLD_S.
        await asyncio.sleep(HOLD_S + 0.2)
        assert not eager.backlog.backed_up(queue)
        asked.eager.clear()
        await probe(0)
        assert asked.eager == [True]
