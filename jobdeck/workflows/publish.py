"""The `model-publish` job: a LoRA adapter trained here becomes an Ollama model.

Queries: `progress` (from JobWorkflow)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

from jobdeck.workflows.fine_tuning import PROVIDER_RETRY
from jobdeck.workflows.lifecycle import JobWorkflow

with workflow.unsafe.imports_passed_through():
    from jobdeck.activities.ollama_build import OllamaActivities, PublishInput
    from jobdeck.domain import JobSpec


@workflow.defn(name="model-publish")
class ModelPublishWorkflow(JobWorkflow):
    @workflow.run
    async def run(self, spec: JobSpec) -> dict[str, Any] | None:
        return await self.run_job(spec)

    async def execute(self, spec: JobSpec) -> dict[str, Any] | None:
        data = spec.data
        result: dict[str, Any] = await workflow.execute_activity_method(
            OllamaActivities.publish,
            PublishInput(
                spec.job_id,
                spec.organization_id,
                data["modelId"],
                data.get("baseModel"),
                data.get("name"),
            ),
            start_to_close_timeout=timedelta(hours=6),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=PROVIDER_RETRY,
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        return result
