"""A workflow that reads the wall clock: Temporal's sandbox forbids it, when it sees it;
and one that calls an activity, to see which serialization contexts its payloads get
(tests/test_workflow_modules.py)."""

from __future__ import annotations

import datetime

from temporalio import activity, workflow
from temporalio.worker.workflow_sandbox import RestrictedWorkflowAccessError


# The restriction's error fails the workflow (not only its task), so the test can read it.
@workflow.defn(name="sandbox-probe", failure_exception_types=[RestrictedWorkflowAccessError])
class ReadsTheClock:
    @workflow.run
    async def run(self) -> str:
        return datetime.datetime.now(datetime.UTC).isoformat()


@activity.defn(name="sandbox-echo")
async def echo(text: str) -> str:
    return text


@workflow.defn(name="sandbox-calls-an-activity")
class CallsAnActivity:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(
            echo, text, start_to_close_timeout=datetime.timedelta(seconds=30)
        )
