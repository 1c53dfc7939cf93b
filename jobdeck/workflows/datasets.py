"""The dataset jobs: `data-conversion` (any tabular file to JSONL, CSV, Parquet or OpenAI
chat JSONL, registered as a new dataset) and `dataset-validation` (the fine-tuning
validation report of a chat JSONL dataset, stored with it).

Each is one long activity that streams the file and heartbeats its progress; a cancel
waits for the activity to delete its partial output before the job ends `cancelled`.

Queries: `progress` (from JobWorkflow).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from jobdeck.workflows.jobtype import JobType
from jobdeck.workflows.lifecycle import JobWorkflow

with workflow.unsafe.imports_passed_through():
    from jobdeck.activities.conversion.errors import NON_RETRYABLE
    from jobdeck.activities.datasets import ConversionInput, DatasetActivities, ValidationInput
    from jobdeck.domain import JobSpec
    from jobdeck.inputs import DataConversionData, DatasetValidationData

# Bad data fails at once (non-retryable); a lost worker or a storage hiccup is retried.
DATASET_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=3,
    non_retryable_error_types=NON_RETRYABLE,
)
# A gigabyte converts in well under a minute; hours leave room for slow storage.
STEP_TIMEOUT = timedelta(hours=6)
HEARTBEAT_TIMEOUT = timedelta(seconds=30)


@workflow.defn(name="data-conversion")
class DataConversionWorkflow(JobWorkflow[DataConversionData]):
    @workflow.run
    async def run(self, spec: JobSpec) -> dict[str, Any] | None:
        return await self.run_job(spec)

    async def execute(self, spec: JobSpec, data: DataConversionData) -> dict[str, Any] | None:
        request = ConversionInput(
            job_id=spec.job_id,
            organization_id=spec.organization_id,
            user_id=spec.user_id,
            dataset_id=data.dataset_id,
            output_format=data.output_format.value,
            input_format=data.input_format.value if data.input_format else None,
            encoding=data.encoding,
            delimiter=data.delimiter,
            sheet=data.sheet,
            mapping=data.mapping.model_dump(mode="json", by_alias=True) if data.mapping else None,
            validation=data.validation,
            model=data.model,
            epochs=data.epochs,
            name=data.name,
        )
        result: dict[str, Any] = await workflow.execute_activity_method(
            DatasetActivities.convert,
            request,
            start_to_close_timeout=STEP_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=DATASET_RETRY,
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        return result


@workflow.defn(name="dataset-validation")
class DatasetValidationWorkflow(JobWorkflow[DatasetValidationData]):
    @workflow.run
    async def run(self, spec: JobSpec) -> dict[str, Any] | None:
        return await self.run_job(spec)

    async def execute(self, spec: JobSpec, data: DatasetValidationData) -> dict[str, Any] | None:
        request = ValidationInput(
            job_id=spec.job_id,
            organization_id=spec.organization_id,
            dataset_id=data.dataset_id,
            model=data.model,
            epochs=data.epochs,
        )
        result: dict[str, Any] = await workflow.execute_activity_method(
            DatasetActivities.validate,
            request,
            start_to_close_timeout=STEP_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=DATASET_RETRY,
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        return result


CONVERSION = JobType(
    workflow=DataConversionWorkflow,
    description="Convert a dataset (CSV, TSV, JSON, JSONL, Parquet, XLSX) to JSONL, CSV, "
    "Parquet or OpenAI chat fine-tuning JSONL, as a new dataset",
    activities=[DatasetActivities.convert],
)
VALIDATION = JobType(
    workflow=DatasetValidationWorkflow,
    description="Check a chat JSONL dataset against OpenAI's fine-tuning rules, with token "
    "counts and cost; the report is stored with the dataset",
    activities=[DatasetActivities.validate],
)
