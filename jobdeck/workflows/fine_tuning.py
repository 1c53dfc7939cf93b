"""The fine-tuning job: validate the dataset, then either
- a hosted provider (OpenAI; see the provider registry): upload → create → poll until the
  provider job ends → record the model; or
- a provider with a step of its own (Ollama: pull the base model and create the customized
  one, streamed, in one step).

Polling pattern: a loop of short poll activities with a durable timer between them and
continue-as-new when the history grows, since a provider job can run for days.

The fine-tuning record always ends as its job does: succeeded (with its model), or failed
or cancelled with its error and when it ended (the `fine-tuning.ended` step, which
histories from before RECORD_ENDINGS do not have).

Queries: `progress` (from JobWorkflow).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, is_cancelled_exception

from jobdeck.workflows.jobtype import JobType
from jobdeck.workflows.lifecycle import JobWorkflow, failure_info

with workflow.unsafe.imports_passed_through():
    from jobdeck.activities.conversion.validate import ERRORS, too_few_examples
    from jobdeck.activities.datasets import DatasetActivities, ValidationInput
    from jobdeck.activities.fine_tuning.hosted import (
        CreateInput,
        FineTuningActivities,
        FineTuningEnd,
        FineTuningRef,
        FinishInput,
        PollInput,
        Uploaded,
        UploadInput,
    )
    from jobdeck.activities.fine_tuning.ollama import OllamaActivities, OllamaBuildInput
    from jobdeck.activities.fine_tuning.provider import FineTuningProvider
    from jobdeck.activities.fine_tuning.providers import PROVIDERS
    from jobdeck.domain import JobSpec
    from jobdeck.fine_tuning_models import DEFAULT_MODEL
    from jobdeck.inputs import FineTuningData
    from jobdeck.workflows.patches import RECORD_ENDINGS, patched
    from jobdeck.workflows.resumes import PollingResume

# 429s, 5xx and timeouts are retried here (the SDK's own retries are off); a provider's
# 4xx arrives as a non-retryable ApplicationError and fails the job with its message.
PROVIDER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=12,
)
SHORT = timedelta(minutes=2)


def _provider(name: str) -> FineTuningProvider:
    provider = PROVIDERS.get(name)
    if provider is None:
        raise ApplicationError(
            f"unknown fine-tuning provider {name!r}", type="UnknownProvider", non_retryable=True
        )
    return provider


@workflow.defn(name="fine-tuning")
class FineTuningWorkflow(JobWorkflow[FineTuningData]):
    def __init__(self) -> None:
        super().__init__()
        self._ref: FineTuningRef | None = None

    @workflow.run
    async def run(self, spec: JobSpec) -> dict[str, Any] | None:
        return await self.run_job(spec)

    async def execute(self, spec: JobSpec, data: FineTuningData) -> dict[str, Any] | None:
        try:
            return await self._fine_tune(spec, data)
        except Exception as err:
            if not is_cancelled_exception(err) and patched(RECORD_ENDINGS):
                await self._ended("failed", failure_info(err).to_json())
            raise

    async def _fine_tune(self, spec: JobSpec, data: FineTuningData) -> dict[str, Any] | None:
        provider = _provider(data.provider)
        ref = FineTuningRef(spec.job_id, spec.organization_id, provider.name)
        self._ref = ref
        resume = self.resumed(PollingResume)
        prepared = await workflow.execute_activity_method(
            FineTuningActivities.prepare,
            ref,
            start_to_close_timeout=SHORT,
            retry_policy=PROVIDER_RETRY,
        )
        if resume is None:
            await self._validate(spec, data, provider)
        if not provider.hosted:
            return await self._build(spec, data)
        if resume is not None and resume.provider_job_id is not None:
            ref.provider_job_id = resume.provider_job_id
        else:
            files = await workflow.execute_activity_method(
                FineTuningActivities.upload,
                UploadInput(ref, data.dataset_id, data.validation_dataset_id),
                start_to_close_timeout=timedelta(minutes=30),
                retry_policy=PROVIDER_RETRY,
            )
            ref.provider_job_id = await self._create(ref, data, files)
        last_event_id = resume.last_event_id if resume else None
        interval = timedelta(seconds=prepared.poll_interval_s)
        while True:
            polled = await workflow.execute_activity_method(
                FineTuningActivities.poll,
                PollInput(ref, last_event_id),
                start_to_close_timeout=SHORT,
                retry_policy=PROVIDER_RETRY,
            )
            last_event_id = polled.last_event_id
            if polled.phase in ("succeeded", "failed", "cancelled"):
                break
            await workflow.sleep(interval)
            if workflow.info().is_continue_as_new_suggested():
                self.continue_as_new(
                    PollingResume(provider_job_id=ref.provider_job_id, last_event_id=last_event_id)
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
            FineTuningActivities.finish,
            FinishInput(
                ref,
                data.base_model,
                data.dataset_id,
                polled.fine_tuned_model or "",
                last_event_id=last_event_id,
                missing=polled.missing,
            ),
            start_to_close_timeout=SHORT,
            retry_policy=PROVIDER_RETRY,
        )
        return {
            "fineTunedModel": polled.fine_tuned_model,
            "modelId": model_id,
            "providerJobId": ref.provider_job_id,
        }

    async def _validate(
        self, spec: JobSpec, data: FineTuningData, provider: FineTuningProvider
    ) -> None:
        """Refuse to spend money on data the provider would reject."""
        epochs = data.hyperparameters.n_epochs if data.hyperparameters else None
        # Token counts and cost follow a base model the provider prices; else the default.
        model = data.base_model if provider.prices_tokens else DEFAULT_MODEL
        report = await workflow.execute_activity_method(
            DatasetActivities.validate,
            ValidationInput(
                spec.job_id,
                spec.organization_id,
                data.dataset_id,
                model=model,
                epochs=epochs if isinstance(epochs, int) else None,
            ),
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(minutes=1),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        if not report.get("valid"):
            raise ApplicationError(
                f"the dataset does not pass the fine-tuning checks: {_reasons(report)}. "
                "Nothing was sent to the provider (see details, and the dataset's "
                "validation report)",
                report,
                type="InvalidDataset",
                non_retryable=True,
            )

    async def _create(self, ref: FineTuningRef, data: FineTuningData, files: Uploaded) -> str:
        hyperparameters = (
            data.hyperparameters.model_dump(exclude_none=True) if data.hyperparameters else {}
        )
        provider_job_id: str = await workflow.execute_activity_method(
            FineTuningActivities.create,
            CreateInput(ref, data.base_model, files, hyperparameters, data.suffix, data.seed),
            start_to_close_timeout=SHORT,
            retry_policy=PROVIDER_RETRY,
        )
        return provider_job_id

    async def _build(self, spec: JobSpec, data: FineTuningData) -> dict[str, Any]:
        """A provider that builds the model in one streamed step of its own (Ollama)."""
        result: dict[str, Any] = await workflow.execute_activity_method(
            OllamaActivities.build,
            OllamaBuildInput(
                spec.job_id,
                spec.organization_id,
                data.dataset_id,
                data.base_model,
                spec.name,
                data.suffix,
                data.parameters or {},
            ),
            start_to_close_timeout=timedelta(hours=6),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=PROVIDER_RETRY,
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        return result

    async def on_cancel(self) -> None:
        """Cancel at the provider too (once), even if the create step was cut short; that
        step ends the record. A provider without one (Ollama) has its record ended here."""
        if self._ref is None:
            return
        if not _provider(self._ref.provider).hosted:
            if patched(RECORD_ENDINGS):
                await self._ended("cancelled", None)
            return
        await workflow.execute_activity_method(
            FineTuningActivities.cancel,
            self._ref,
            start_to_close_timeout=SHORT,
            retry_policy=PROVIDER_RETRY,
        )

    async def _ended(self, phase: str, error: dict[str, Any] | None) -> None:
        await workflow.execute_activity_method(
            FineTuningActivities.ended,
            FineTuningEnd(self.spec.job_id, phase, error),
            start_to_close_timeout=SHORT,
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
        )


def _reasons(report: dict[str, Any]) -> str:
    """What is wrong with a dataset, in words, from its validation summary."""
    errors: dict[str, int] = report.get("errors") or {}
    reasons = []
    for kind, count in errors.items():
        if kind == "too_few_examples":
            reasons.append(too_few_examples(int(report.get("examples") or 0)))
        else:
            reasons.append(f"{ERRORS.get(kind, kind)} ({count} example{'s' * (count != 1)})")
    return "; ".join(reasons) or "the checks failed"


JOB_TYPE = JobType(
    workflow=FineTuningWorkflow,
    description="Fine-tune a model on a chat dataset with a provider (OpenAI, or Ollama's "
    "customization), polled until done, leaving a model record",
    activities=[
        DatasetActivities.validate,
        FineTuningActivities.prepare,
        FineTuningActivities.upload,
        FineTuningActivities.create,
        FineTuningActivities.poll,
        FineTuningActivities.cancel,
        FineTuningActivities.finish,
        FineTuningActivities.ended,
        *(step for p in PROVIDERS.for_job_type("fine-tuning") for step in p.activities),
    ],
)
