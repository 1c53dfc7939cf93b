"""The fine-tuning job: validate the dataset, then either
- a hosted provider (OpenAI): upload → create → poll until the provider job ends → record
  the model; or
- Ollama: pull the base model and create the customized one, streamed, in one step.

Polling pattern: a loop of short poll activities with a durable timer between them and
continue-as-new when the history grows, since a provider job can run for days.

Queries: `progress` (from JobWorkflow).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from jobdeck.workflows.lifecycle import JobWorkflow

with workflow.unsafe.imports_passed_through():
    from jobdeck.activities.datasets import DatasetActivities, ValidationInput
    from jobdeck.activities.fine_tuning import (
        CreateInput,
        FineTuneActivities,
        FineTuneRef,
        FinishInput,
        PollInput,
        Uploaded,
        UploadInput,
    )
    from jobdeck.activities.ollama_build import OllamaActivities, OllamaBuildInput
    from jobdeck.domain import JobSpec
    from jobdeck.finetune_models import DEFAULT_MODEL

# 429s, 5xx and timeouts are retried here (the SDK's own retries are off); a provider's
# 4xx arrives as a non-retryable ApplicationError and fails the job with its message.
PROVIDER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=12,
)
SHORT = timedelta(minutes=2)


@workflow.defn(name="fine-tuning")
class FineTuningWorkflow(JobWorkflow):
    def __init__(self) -> None:
        super().__init__()
        self._ref: FineTuneRef | None = None

    @workflow.run
    async def run(self, spec: JobSpec) -> dict[str, Any] | None:
        return await self.run_job(spec)

    async def execute(self, spec: JobSpec) -> dict[str, Any] | None:
        data = spec.data
        ref = FineTuneRef(spec.job_id, spec.organization_id, data["provider"])
        self._ref = ref
        resume = spec.resume or {}
        prepared = await workflow.execute_activity_method(
            FineTuneActivities.prepare,
            ref,
            start_to_close_timeout=SHORT,
            retry_policy=PROVIDER_RETRY,
        )
        if not resume:
            await self._validate(spec)
        if ref.provider == "ollama":
            return await self._ollama(spec)
        if "providerJobId" in resume:
            ref.provider_job_id = resume["providerJobId"]
        else:
            files = await workflow.execute_activity_method(
                FineTuneActivities.upload,
                UploadInput(ref, data["datasetId"], data.get("validationDatasetId")),
                start_to_close_timeout=timedelta(minutes=30),
                retry_policy=PROVIDER_RETRY,
            )
            ref.provider_job_id = await self._create(spec, ref, files)
        last_event_id: str | None = resume.get("lastEventId")
        interval = timedelta(seconds=prepared.poll_interval_s)
        while True:
            polled = await workflow.execute_activity_method(
                FineTuneActivities.poll,
                PollInput(ref, last_event_id),
                start_to_close_timeout=SHORT,
                retry_policy=PROVIDER_RETRY,
            )
            last_event_id = polled.last_event_id
            if polled.phase in ("succeeded", "failed", "cancelled"):
                break
            await workflow.sleep(interval)
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(
                    replace(
                        spec,
                        resume={"providerJobId": ref.provider_job_id, "lastEventId": last_event_id},
                    )
                )
        if polled.phase == "failed":
            error = polled.error or {}
            raise ApplicationError(
                str(error.get("message") or f"the provider job {polled.status}"),
                error,
                type="ProviderJobFailed",
                non_retryable=True,
            )
        if polled.phase == "cancelled":
            raise ApplicationError(
                "the fine-tune was cancelled at the provider",
                type="ProviderJobCancelled",
                non_retryable=True,
            )
        model_id = await workflow.execute_activity_method(
            FineTuneActivities.finish,
            FinishInput(ref, data["baseModel"], data["datasetId"], polled.fine_tuned_model or ""),
            start_to_close_timeout=SHORT,
            retry_policy=PROVIDER_RETRY,
        )
        return {
            "fineTunedModel": polled.fine_tuned_model,
            "modelId": model_id,
            "providerJobId": ref.provider_job_id,
        }

    async def _validate(self, spec: JobSpec) -> None:
        """Refuse to spend money on data the provider would reject."""
        data = spec.data
        epochs = (data.get("hyperparameters") or {}).get("nEpochs")
        # Token counts and cost follow the OpenAI base model; Ollama's figures use the default.
        model = data["baseModel"] if data["provider"] == "openai" else DEFAULT_MODEL
        report = await workflow.execute_activity_method(
            DatasetActivities.validate,
            ValidationInput(
                spec.job_id,
                spec.organization_id,
                data["datasetId"],
                model=model,
                epochs=epochs if isinstance(epochs, int) else None,
            ),
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(minutes=1),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        if not report.get("valid"):
            raise ApplicationError(
                "the dataset does not pass the fine-tuning checks; nothing was sent to the "
                "provider (see details, and the dataset's validation report)",
                report,
                type="InvalidDataset",
                non_retryable=True,
            )

    async def _create(self, spec: JobSpec, ref: FineTuneRef, files: Uploaded) -> str:
        data = spec.data
        provider_job_id: str = await workflow.execute_activity_method(
            FineTuneActivities.create,
            CreateInput(
                ref,
                data["baseModel"],
                files,
                _hyperparameters(data),
                data.get("suffix"),
                data.get("seed"),
            ),
            start_to_close_timeout=SHORT,
            retry_policy=PROVIDER_RETRY,
        )
        return provider_job_id

    async def _ollama(self, spec: JobSpec) -> dict[str, Any]:
        data = spec.data
        result: dict[str, Any] = await workflow.execute_activity_method(
            OllamaActivities.build,
            OllamaBuildInput(
                spec.job_id,
                spec.organization_id,
                data["datasetId"],
                data["baseModel"],
                spec.name,
                data.get("suffix"),
                data.get("parameters") or {},
            ),
            start_to_close_timeout=timedelta(hours=6),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=PROVIDER_RETRY,
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        return result

    async def on_cancel(self) -> None:
        """Cancel at the provider too (once), even if the create step was cut short."""
        if self._ref is None or self._ref.provider == "ollama":
            return
        await workflow.execute_activity_method(
            FineTuneActivities.cancel,
            self._ref,
            start_to_close_timeout=SHORT,
            retry_policy=PROVIDER_RETRY,
        )


def _hyperparameters(data: dict[str, Any]) -> dict[str, Any]:
    """The API's camelCase hyperparameters in OpenAI's names ("auto" or a number each)."""
    given = data.get("hyperparameters") or {}
    names = {
        "nEpochs": "n_epochs",
        "batchSize": "batch_size",
        "learningRateMultiplier": "learning_rate_multiplier",
    }
    return {names[k]: v for k, v in given.items() if k in names and v is not None}
