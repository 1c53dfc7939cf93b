"""The `model-training` job: a LoRA fine-tune on a training worker's CPU or GPU.

The job stays pending until a training slot takes it (the training activity marks it
active), so jobs queued behind a busy GPU read as waiting, not running. A lost try
(its worker killed) is retried elsewhere and resumes from the last checkpoint.

Queries: `progress` (from JobWorkflow). Signals: `training_started` (from the activity).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import is_cancelled_exception

from jobdeck.workflows.jobtype import JobType, QueueActivities
from jobdeck.workflows.lifecycle import JobWorkflow, failure_info

with workflow.unsafe.imports_passed_through():
    from jobdeck.activities.fine_tuning.training import (
        STARTED_SIGNAL,
        TrainingActivities,
        TrainingEnd,
        training_unavailable,
    )
    from jobdeck.config import Settings
    from jobdeck.domain import JobSpec, JobStatus
    from jobdeck.inputs import ModelTrainingData
    from jobdeck.training import available

SHORT = timedelta(minutes=2)
# A try lost with its worker resumes from its checkpoint; a real error (bad data, no
# such model) is non-retryable and fails at once.
TRAINING_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=5,
)


@workflow.defn(name="model-training")
class ModelTrainingWorkflow(JobWorkflow[ModelTrainingData]):
    marks_started = False  # the training activity does, when a slot picks the job up

    @workflow.run
    async def run(self, spec: JobSpec) -> dict[str, Any] | None:
        return await self.run_job(spec)

    @workflow.signal(name=STARTED_SIGNAL)
    def training_started(self) -> None:
        if not self.state.status.is_terminal:
            self.state.status = JobStatus.ACTIVE

    async def execute(self, spec: JobSpec, data: ModelTrainingData) -> dict[str, Any] | None:
        plan = await workflow.execute_activity_method(
            TrainingActivities.prepare,
            spec,
            start_to_close_timeout=SHORT,
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
        )
        try:
            result: dict[str, Any] = await workflow.execute_activity_method(
                TrainingActivities.train,
                spec,
                task_queue=plan.task_queue,
                start_to_close_timeout=timedelta(days=30),
                heartbeat_timeout=timedelta(seconds=plan.heartbeat_timeout_s),
                retry_policy=TRAINING_RETRY,
                cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
        except Exception as err:
            if not is_cancelled_exception(err):
                await self._ended("failed", failure_info(err).to_json())
            raise
        return result

    async def on_cancel(self) -> None:
        await self._ended("cancelled", None)

    async def _ended(self, phase: str, error: dict[str, Any] | None) -> None:
        await workflow.execute_activity_method(
            TrainingActivities.ended,
            TrainingEnd(self.spec.job_id, phase, error),
            start_to_close_timeout=SHORT,
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
        )


def _training_queue(settings: Settings) -> list[QueueActivities]:
    """The training task queue, polled where this worker may train
    (JOBDECK_WORKER_TRAINING: auto polls it where the training extra is installed)."""
    if settings.worker_training == "off":
        return []
    missing = available.missing_modules()
    if missing and settings.worker_training == "on":
        raise RuntimeError(
            f"JOBDECK_WORKER_TRAINING=on, but {', '.join(missing)} cannot be imported: "
            f"{available.INSTALL_HINT}"
        )
    if missing:
        return []
    return [
        QueueActivities(
            settings.training_queue,
            [TrainingActivities.train],
            max_concurrent=settings.training_slots,
        )
    ]


JOB_TYPE = JobType(
    workflow=ModelTrainingWorkflow,
    description="Fine-tune a causal language model with LoRA on a chat dataset, on a "
    "training worker's CPU or GPU, with checkpoints; leaves an adapter and a model",
    activities=[TrainingActivities.prepare, TrainingActivities.ended],
    queues=_training_queue,
    unavailable=training_unavailable,
)
