"""The bulk-operation job: cancel or retry every job of the organization matching a filter.

The matching jobs are the job's items (GET /api/jobs/{id}/items): the item runner
(workflows/items.py) works them in heartbeating chunks with continue-as-new, and each
target's outcome says whether it was cancelled or retried (and as which job), or skipped
and why. Runs begun before the item runner (`BULK_ITEMS` unpatched) go on with their
loop of page activities.

Queries: `progress` (from JobWorkflow).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from jobdeck.workflows.items import ItemRun, ItemSteps, run_items
from jobdeck.workflows.jobtype import JobType
from jobdeck.workflows.lifecycle import JobWorkflow

with workflow.unsafe.imports_passed_through():
    from jobdeck.activities.bulk import (
        BulkActivities,
        BulkCounts,
        BulkItemActivities,
        BulkPageInput,
        BulkPlanInput,
    )
    from jobdeck.domain import JobFilter, JobSpec, Progress
    from jobdeck.inputs import BulkOperationData
    from jobdeck.workflows.patches import BULK_ITEMS, LOCAL_BOOKKEEPING, patched
    from jobdeck.workflows.resumes import BulkItemResume, BulkResume


STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)


@workflow.defn(name="bulk-operation")
class BulkOperationWorkflow(JobWorkflow[BulkOperationData]):
    @workflow.run
    async def run(self, spec: JobSpec) -> dict[str, Any] | None:
        return await self.run_job(spec)

    async def execute(self, spec: JobSpec, data: BulkOperationData) -> dict[str, Any] | None:
        resumed = spec.resume or {}
        if "items" in resumed or ("plan" not in resumed and patched(BULK_ITEMS)):
            return await self._on_items(data)
        return await self._by_pages(spec, data)

    async def _on_items(self, data: BulkOperationData) -> dict[str, Any]:
        action = data.action
        resume = self.resumed(BulkItemResume)
        created_before = resume.created_before if resume else workflow.now().isoformat()
        steps = ItemSteps(
            seed=BulkItemActivities.seed_items,
            work=BulkItemActivities.work_items,
            unit="jobs",
            stage=action,
            params={
                "action": action,
                "filter": data.filter.model_dump(mode="json"),
                "createdBefore": created_before,
            },
        )
        run = await run_items(
            self,
            steps,
            resume.items if resume else ItemRun(),
            lambda r: BulkItemResume(created_before=created_before, items=r),
        )
        counts = run.counts
        return {
            "action": action,
            "matched": run.total,
            "processed": run.total - counts.get("pending", 0),
            "succeeded": counts.get("succeeded", 0),
            "skipped": counts.get("skipped", 0),
            "failed": counts.get("failed", 0),
            "newJobIds": run.notes if action == "retry" else [],
        }

    async def _by_pages(self, spec: JobSpec, data: BulkOperationData) -> dict[str, Any] | None:
        action = data.action
        flt = JobFilter(
            statuses=[str(s) for s in data.filter.statuses],
            types=list(data.filter.types),
            q=data.filter.q,
            ids=list(data.filter.ids),
        )
        resume = self.resumed(BulkResume)
        if resume is not None:
            plan = resume.plan
        else:
            # One count query: a local activity (see lifecycle.record), behind the same patch.
            plan_step = (
                workflow.execute_local_activity_method
                if patched(LOCAL_BOOKKEEPING)
                else workflow.execute_activity_method
            )
            plan = await plan_step(
                BulkActivities.plan,
                BulkPlanInput(spec.job_id, spec.organization_id, flt),
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=STEP_RETRY,
            )
        counts = resume.counts if resume else BulkCounts()
        new_job_ids = resume.new_job_ids if resume else []
        cursor = resume.cursor if resume else None
        if plan.total or not patched(LOCAL_BOOKKEEPING):  # nothing to count: no write
            await self.report(Progress(counts.processed, plan.total, unit="jobs", stage=action))
        while plan.total:
            page = await workflow.execute_activity_method(
                BulkActivities.apply_page,
                BulkPageInput(
                    job_id=spec.job_id,
                    organization_id=spec.organization_id,
                    user_id=spec.user_id,
                    action=action,
                    filter=flt,
                    created_before=plan.created_before,
                    total=plan.total,
                    done=counts.processed,
                    cursor=cursor,
                ),
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=STEP_RETRY,
            )
            counts.add(page.counts)
            new_job_ids = (new_job_ids + page.new_job_ids)[:100]
            cursor = page.next_cursor
            self.state.progress = Progress(counts.processed, plan.total, unit="jobs", stage=action)
            if cursor is None:
                break
            if workflow.info().is_continue_as_new_suggested():
                self.continue_as_new(
                    BulkResume(plan=plan, counts=counts, cursor=cursor, new_job_ids=new_job_ids)
                )
        return {
            "action": action,
            "matched": plan.total,
            "processed": counts.processed,
            "succeeded": counts.succeeded,
            "skipped": counts.skipped,
            "failed": counts.failed,
            "newJobIds": new_job_ids if action == "retry" else [],
        }


JOB_TYPE = JobType(
    workflow=BulkOperationWorkflow,
    description="Cancel or retry every job of the organization that matches a filter",
    activities=[
        BulkActivities.plan,
        BulkActivities.apply_page,
        BulkItemActivities.seed_items,
        BulkItemActivities.work_items,
    ],
)
