"""A workflow that reads the wall clock: Temporal's sandbox forbids it, when it sees it
(tests/test_workflow_modules.py)."""

from __future__ import annotations

import datetime

from temporalio import workflow
from temporalio.worker.workflow_sandbox import RestrictedWorkflowAccessError


# The restriction's error fails the workflow (not only its task), so the test can read it.
@workflow.defn(name="sandbox-probe", failure_exception_types=[RestrictedWorkflowAccessError])
class ReadsTheClock:
    @workflow.run
    async def run(self) -> str:
        return datetime.datetime.now(datetime.UTC).isoformat()
