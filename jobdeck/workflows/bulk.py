"""The bulk-operation job: cancel or retry every job of the organization matching a filter.

Polling pattern: a loop of short page activities (100 jobs each) with continue-as-new, so
an operation over any number of jobs keeps a small history.

Queries: `progress` (from JobWorkflow).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from jobdeck.workflows.lifecycle import LOCAL_BOOKKEEPING, JobWorkflow

with workflow.unsafe.imports_passed_through():
    from jobdeck.activities.bulk import (
        BulkActivities,
        BulkCounts,
        BulkPageInput,
        BulkPlan,
        BulkPlanInput,
    )
    from jobdeck.domain import JobFilter, JobSpec, Progress

STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)


@workflow.defn(name="bulk-operation")
class BulkOperationWorkflow(JobWorkflow):
    @workflow.run
    async def run(self, spec: JobSpec) -> dict[str, Any] | None:
        return await self.run_job(spec)

    async def execute(self, spec: JobSpec) -> dict[str, Any] | None:
        action: str = spec.data["action"]
        raw_filter: dict[str, Any] = spec.data.get("filter") or {}
        flt = JobFilter(
            statuses=list(raw_filter.get("statuses") or []),
            types=list(raw_filter.get("types") or []),
            q=raw_filter.get("q"),
            ids=list(raw_filter.get("ids") or []),
        )
        resume = spec.resume or {}
        if "plan" in resume:
            plan = BulkPlan(**resume["plan"])
        else:
            # One count query: a local activity (see lifecycle.record), behind the same patch.
            plan_step = (
                workflow.execute_local_activity_method
                if workflow.patched(LOCAL_BOOKKEEPING)
                else workflow.execute_activity_method
            )
            plan = await plan_step(
                BulkActivities.plan,
                BulkPlanInput(spec.job_id, spec.organization_id, flt),
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=STEP_RETRY,
            )
        counts = BulkCounts(**resume.get("counts", {}))
        new_job_ids: list[str] = list(resume.get("newJobIds", []))
        cursor: str | None = resume.get("cursor")
        if plan.total or not workflow.patched(LOCAL_BOOKKEEPING):  # nothing to count: no write
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
                resume = {
                    "plan": {"total": plan.total, "created_before": plan.created_before},
                    "counts": vars(counts),
                    "cursor": cursor,
                    "newJobIds": new_job_ids,
                }
                workflow.continue_as_new(replace(spec, resume=resume))
        return {
            "action": action,
            "matched": plan.total,
            "processed": counts.processed,
            "succeeded": counts.succeeded,
            "skipped": counts.skipped,
            "failed": counts.failed,
            "newJobIds": new_job_ids if action == "retry" else [],
        }
