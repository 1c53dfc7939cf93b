"""The `model-publish` job: a LoRA adapter trained here becomes an Ollama model.

Queries: `progress` (from JobWorkflow)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

from jobdeck.workflows.fine_tuning import PROVIDER_RETRY
from jobdeck.workflows.jobtype import JobType
from jobdeck.workflows.lifecycle import JobWorkflow

with workflow.unsafe.imports_passed_through():
    from jobdeck.activities.fine_tuning.ollama import OllamaActivities, PublishInput
    from jobdeck.domain import JobSpec
    from jobdeck.inputs import ModelPublishData


@workflow.defn(name="model-publish")
class ModelPublishWorkflow(JobWorkflow[ModelPublishData]):
    @workflow.run
    async def run(self, spec: JobSpec) -> dict[str, Any] | None:
        return await self.run_job(spec)

    async def execute(self, spec: JobSpec, data: ModelPublishData) -> dict[str, Any] | None:
        result: dict[str, Any] = await workflow.execute_activity_method(
            OllamaActivities.publish,
            PublishInput(
                spec.job_id,
                spec.organization_id,
                data.model_id,
                data.base_model,
                data.name,
            ),
            start_to_close_timeout=timedelta(hours=6),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=PROVIDER_RETRY,
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        return result


JOB_TYPE = JobType(
    workflow=ModelPublishWorkflow,
    description="Publish a trained LoRA adapter to Ollama as a new model on its base",
    activities=[OllamaActivities.publish],
)
