"""One run of a jobdeck schedule (issue 15): what the Temporal Schedule's action starts.

Temporal names the workflow it starts by the schedule and the second the run fired in
(`<schedule id>-<time>`), and starts a second run under that same name when asked to
fire one second twice (a backfill over a time that already ran). So the run's job is
not this workflow: it is a child workflow whose id, the job id, is this run's first run
id, which no other run shares, and which the schedule's list of recent runs carries (it
links each run to its job). The job's workflow is the type's own, as for any job.

Before the job starts, an activity checks it as POST /api/jobs would, on the schedule
owner's behalf (activities/scheduled.py); a refused run starts nothing and is recorded
as a missed run with the reason.

This workflow waits for its job, so the schedule's overlap policy applies to the job: a
skipped, buffered, cancelled or terminated run is the job's (terminating this workflow
asks its job to cancel, through the parent close policy, so the job ends `cancelled`).

No queries, signals or updates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import Priority, RetryPolicy
from temporalio.exceptions import ChildWorkflowError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from jobdeck.activities.scheduled import (
        SCHEDULED_RUN_WORKFLOW,
        PrepareRun,
        ScheduledRunInput,
        ScheduledRuns,
    )

    # The plan's JobSpec is decoded inside the sandbox by its type hints, which name
    # what jobdeck.domain imports: the module must be known there.
    from jobdeck.domain import JobSpec  # noqa: F401
    from jobdeck.temporal import job_search_attributes


@dataclass
class ScheduledRunResult:
    job_id: str | None = None  # None: refused
    refused: str | None = None


@workflow.defn(name=SCHEDULED_RUN_WORKFLOW)
class ScheduledRunWorkflow:
    @workflow.run
    async def run(self, run: ScheduledRunInput) -> ScheduledRunResult:
        # The first run id: a reset of this workflow keeps it, and finds its job started.
        job_id = workflow.info().first_execution_run_id
        plan = await workflow.execute_activity_method(
            ScheduledRuns.prepare,
            PrepareRun(run=run, job_id=job_id, created_at=workflow.now().isoformat()),
            start_to_close_timeout=timedelta(seconds=60),
            # A short read and the type's checks: retried while Temporal or the database
            # does not answer; refusals are answers, not errors.
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                maximum_interval=timedelta(seconds=30),
                maximum_attempts=20,
            ),
        )
        if plan.spec is None:
            return ScheduledRunResult(refused=plan.refused)
        assert plan.task_queue is not None
        try:
            handle = await workflow.start_child_workflow(
                plan.spec.type,
                plan.spec,
                id=job_id,
                task_queue=plan.task_queue,
                parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL,
                cancellation_type=workflow.ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
                priority=Priority(
                    priority_key=plan.spec.priority,
                    fairness_key=plan.fairness_key,
                    fairness_weight=plan.fairness_weight,
                ),
                search_attributes=(
                    job_search_attributes(plan.spec) if plan.search_attributes else None
                ),
            )
        except WorkflowAlreadyStartedError:
            return ScheduledRunResult(job_id=job_id)
        try:
            await handle
        except ChildWorkflowError:
            pass  # the job failed or was cancelled: its row says so
        return ScheduledRunResult(job_id=job_id)


SCHEDULED_RUN_ACTIVITIES = [ScheduledRuns.prepare]
