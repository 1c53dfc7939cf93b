"""`test-silent`: a job that reports once, then goes silent (no progress, no heartbeat)
until the file named in its data appears; then it reports again and ends. For the
stuck-job checks; registered like any plugin (JOBDECK_JOB_TYPE_MODULES)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from temporalio import activity, workflow

from jobdeck.workflows.jobtype import JobType
from jobdeck.workflows.lifecycle import JobWorkflow

with workflow.unsafe.imports_passed_through():
    from jobdeck.activities.base import ActivityGroup
    from jobdeck.activities.progress import ProgressReporter
    from jobdeck.domain import JobSpec


class SilentData(BaseModel):
    wake_file: str = Field(max_length=1000)


@dataclass
class SilentInput:
    wake_file: str


class SilentActivities(ActivityGroup):
    @activity.defn(name="test-silent.run")
    async def run(self, params: SilentInput) -> dict[str, Any]:
        async with ProgressReporter(self.records, total=8, unit="steps", stage="working") as p:
            await p.update(1, message="started, going quiet")
            # Silent: no heartbeat, no report. The test process wakes it through a file.
            while not await asyncio.to_thread(Path(params.wake_file).exists):  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            for step in range(2, 9):  # moving again, for a few seconds, then done
                await p.update(step, message=f"awake, step {step}")
                await asyncio.sleep(0.5)
        return {"woke": True}


@workflow.defn(name="test-silent")
class SilentWorkflow(JobWorkflow[SilentData]):
    @workflow.run
    async def run(self, spec: JobSpec) -> dict[str, Any] | None:
        return await self.run_job(spec)

    async def execute(self, spec: JobSpec, data: SilentData) -> dict[str, Any] | None:
        result: dict[str, Any] = await workflow.execute_activity_method(
            SilentActivities.run,
            SilentInput(wake_file=data.wake_file),
            start_to_close_timeout=timedelta(minutes=5),
        )
        return result


JOB_TYPES = [
    JobType(
        workflow=SilentWorkflow,
        description="Reports once, then silent until woken (tests only)",
        activities=[SilentActivities.run],
    )
]
