"""test-steps rewritten to sleep first: not what the recorded histories did. Kept in its own
module because the workflow sandbox re-imports the module a workflow lives in."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from jobdeck.domain import JobSpec


@workflow.defn(name="test-steps")
class ChangedStepsWorkflow:
    @workflow.run
    async def run(self, spec: JobSpec) -> None:
        await workflow.sleep(1)
