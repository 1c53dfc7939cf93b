"""A job type for tests only, registered through JOBDECK_JOB_TYPE_MODULES like any plugin.

`test-steps` runs N timed steps in one heartbeating activity, reporting progress; it can
fail its first tries (to show retries with backoff) or every try (to show a failed job),
and records the cleanup it ran when cancelled.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from jobdeck.workflows.jobtype import JobType
from jobdeck.workflows.lifecycle import JobWorkflow

with workflow.unsafe.imports_passed_through():
    from jobdeck.activities.base import ActivityGroup
    from jobdeck.activities.progress import ProgressReporter
    from jobdeck.clock import utcnow
    from jobdeck.domain import EventKind, JobSpec
    from jobdeck.store import jobs as job_store


class StepsData(BaseModel):
    steps: int = Field(default=5, ge=0, le=100_000)
    step_seconds: float = Field(default=0.05, ge=0, le=60)
    fail_times: int = Field(default=0, ge=0, le=10)
    fail_permanently: bool = False
    note: str = Field(default="", max_length=10_000)


@dataclass
class StepsInput:
    steps: int
    step_seconds: float
    fail_times: int = 0
    fail_permanently: bool = False
    note: str = ""


class StepsActivities(ActivityGroup):
    @activity.defn(name="test-steps.run")
    async def run(self, params: StepsInput) -> dict[str, Any]:
        info = activity.info()
        if params.note:
            activity.logger.warning(f"note: {params.note}")
        if params.fail_permanently:
            raise ApplicationError(
                "the input cannot work", {"hint": "fix it"}, type="BadInput", non_retryable=True
            )
        if info.attempt <= params.fail_times:
            raise RuntimeError(f"flaky failure on attempt {info.attempt}")
        try:
            async with ProgressReporter(
                self.records, total=params.steps, unit="steps", stage="working"
            ) as progress:
                for step in range(1, params.steps + 1):
                    activity.logger.info(f"step {step}")
                    await asyncio.sleep(params.step_seconds)
                    await progress.update(step, message=f"step {step}")
        except asyncio.CancelledError:
            async with self.db.write() as session:
                await job_store.note_event(
                    session,
                    job_id=info.workflow_id or "",
                    kind=EventKind.MESSAGE,
                    now=utcnow(),
                    data={"message": "cleanup ran"},
                )
            raise
        return {"steps": params.steps, "attempt": info.attempt}


@workflow.defn(name="test-steps")
class StepsWorkflow(JobWorkflow[StepsData]):
    @workflow.run
    async def run(self, spec: JobSpec) -> dict[str, Any] | None:
        return await self.run_job(spec)

    async def execute(self, spec: JobSpec, data: StepsData) -> dict[str, Any] | None:
        params = StepsInput(**data.model_dump())
        result: dict[str, Any] = await workflow.execute_activity_method(
            StepsActivities.run,
            params,
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=200),
                backoff_coefficient=2.0,
                maximum_attempts=5,
            ),
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        return result


JOB_TYPES = [
    JobType(
        workflow=StepsWorkflow,
        description="Timed steps with progress (tests only)",
        activities=[StepsActivities.run],
    )
]
