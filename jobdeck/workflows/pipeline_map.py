"""The `pipeline-map` job: one map step of a pipeline run, started by the run as a child
job (workflows/pipeline.py) and working the step for each item of its list.

Why a child job, not activities in the run's own workflow: the item runner
(workflows/items.py) needs a job of its own, whose row its progress is and whose items
its job_items rows are, and it continues as new when the history grows, which the run's
workflow (a DAG in flight, with timers, approvals and children) cannot do mid-run. As a
child job the map costs the run's history the same few events for 10 items or 100,000,
shows its own progress ("3,400 of 10,000 items"), is cancelled with the run, and lists
each item's outcome at GET /api/jobs/{id}/items.

How the items are worked, by the kind of the map's step:
- transform, http, llm: on the item runner. Each work call takes a chunk of items at a
  time (500 for a transform, a few times `concurrency` for calls out), runs up to
  `concurrency` of them at once inside the activity, each with its own tries, writes the
  chunk's outcomes and heartbeats; a call ends after 5,000 items or 120 s. 10,000 items
  are two or three calls: about 20 events, and continue-as-new after 200 calls.
- job: child jobs in a sliding window of `concurrency`: an activity prepares the next
  window's jobs (checked as POST /api/jobs checks one), the workflow starts them, and
  starts the next as each ends; outcomes are written every 20 items by a local activity.
  A child job costs the history about 7 events, so the map continues as new after 500
  of them (draining its window first: children do not move to a new run).

The job ends with the step's output ({results, total, succeeded, failed, skipped,
errors}, a blob marker when large) and the counts; with failed items and no
`continueOnError` it fails naming the first of them.

Queries: `progress` (from JobWorkflow).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import Priority
from temporalio.exceptions import ApplicationError, is_cancelled_exception

from jobdeck.workflows.items import ITEM_RETRY, ItemRun, ItemSteps, run_items
from jobdeck.workflows.jobtype import JobType
from jobdeck.workflows.lifecycle import RECORDS_RETRY, JobWorkflow, failure_info

with workflow.unsafe.imports_passed_through():
    from jobdeck.activities.items import ItemSeedInput

    # Imported here so that the sandbox knows its module: the converter reads the hints
    # of MapChild.plan (spec: JobSpec) in it.
    from jobdeck.activities.pipeline import ChildJobPlan
    from jobdeck.activities.pipeline_map import (
        STAGE,
        UNIT,
        MapActivities,
        MapChild,
        MapCollectInput,
        MapOutcome,
        MapOutcomesInput,
        MapWindowInput,
    )
    from jobdeck.activities.pipeline_runs import prepare_map
    from jobdeck.domain import JobSpec, Progress
    from jobdeck.pipelines.maps import DEFAULT_ATTEMPTS, PipelineMapData
    from jobdeck.pipelines.spec import seconds_of
    from jobdeck.temporal import job_search_attributes
    from jobdeck.workflows.resumes import MapResume

FLUSH_EVERY = 20  # child jobs' outcomes written at once


@workflow.defn(name="pipeline-map")
class PipelineMapWorkflow(JobWorkflow[PipelineMapData]):
    @workflow.run
    async def run(self, spec: JobSpec) -> dict[str, Any] | None:
        return await self.run_job(spec)

    async def execute(self, spec: JobSpec, data: PipelineMapData) -> dict[str, Any] | None:
        resume = self.resumed(MapResume)
        run = resume.items if resume else ItemRun()
        if data.step.kind == "job":
            await self._windows(data, run)
        else:
            calls_out = min(max(4 * data.concurrency, 20), 400)
            chunk = 500 if data.step.kind == "transform" else calls_out
            steps = ItemSteps(
                seed=MapActivities.seed,
                work=MapActivities.work,
                unit=UNIT,
                stage=STAGE,
                chunk_size=chunk,
                max_items=5000,
                max_seconds=120,
                heartbeat_timeout=timedelta(seconds=30),  # ItemHandler beats every 5 s
            )
            await run_items(self, steps, run, lambda r: MapResume(items=r))
        summary = await workflow.execute_activity_method(
            MapActivities.collect,
            MapCollectInput(spec.job_id, spec.organization_id),
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=timedelta(seconds=60),
            retry_policy=ITEM_RETRY,
        )
        counts = {
            "total": summary.total,
            "succeeded": summary.succeeded,
            "failed": summary.failed,
            "skipped": summary.skipped,
        }
        if summary.failed and not data.continue_on_error:
            named = "; ".join(f"item {e['index']}: {e['error']}" for e in summary.errors[:3])
            raise ApplicationError(
                f"{summary.failed} of {summary.total} items failed: {named}",
                {**counts, "errors": summary.errors},
                type="MapItemsFailed",
                non_retryable=True,
            )
        return {"output": summary.output, **counts}

    async def _windows(self, data: PipelineMapData, run: ItemRun) -> None:
        """A job step's items as child jobs, `concurrency` at a time (a sliding window)."""
        spec = self.spec
        if not run.seeded:
            seeded = await workflow.execute_activity_method(
                MapActivities.seed,
                ItemSeedInput(spec.job_id, spec.organization_id, spec.user_id, spec.retry_of),
                start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=timedelta(seconds=60),
                retry_policy=ITEM_RETRY,
            )
            run.seeded, run.total = True, seeded.total
            run.after_seq, run.finished = [0], [not seeded.total]
            await self.report(Progress(0, run.total, unit=UNIT, stage=STAGE), force=True)
        queue: list[MapChild] = []
        running: dict[int, asyncio.Task[MapOutcome]] = {}
        outcomes: list[MapOutcome] = []
        started = 0
        try:
            while True:
                stopping = started > 0 and (
                    started >= data.children_per_run
                    or workflow.info().is_continue_as_new_suggested()
                )
                while len(running) < data.concurrency and not stopping:
                    if not queue:
                        if run.finished[0]:
                            break
                        window = await workflow.execute_activity_method(
                            MapActivities.prepare_children,
                            MapWindowInput(
                                job_id=spec.job_id,
                                organization_id=spec.organization_id,
                                after_seq=run.after_seq[0],
                                limit=data.concurrency,
                            ),
                            start_to_close_timeout=timedelta(minutes=5),
                            retry_policy=ITEM_RETRY,
                        )
                        queue = list(window.children)
                        outcomes += window.settled
                        run.after_seq[0], run.finished[0] = window.last_seq, window.finished
                        continue
                    child = queue.pop(0)
                    running[child.seq] = asyncio.create_task(self._child(child, data))
                    started += 1
                if not running:
                    break
                await workflow.wait_condition(lambda: any(t.done() for t in running.values()))
                for seq in [s for s, t in running.items() if t.done()]:
                    outcomes.append(running.pop(seq).result())
                if len(outcomes) >= FLUSH_EVERY:
                    await self._flush(outcomes, run)
        except BaseException as err:
            if is_cancelled_exception(err) and running:
                for task in running.values():
                    task.cancel()
                await asyncio.gather(*running.values(), return_exceptions=True)
            raise
        await self._flush(outcomes, run)
        if queue or not run.finished[0]:
            # Items prepared but not started are pending still: the next run prepares them.
            if queue:
                run.after_seq[0] = queue[0].seq - 1
            run.finished[0] = False
            self.continue_as_new(MapResume(items=run))

    async def _child(self, child: MapChild, data: PipelineMapData) -> MapOutcome:
        """One item's child job, tried again (as a new job) per the step's `retry`."""
        plan: ChildJobPlan = child.plan
        assert data.step.kind == "job"
        retry, timeout = data.step.retry, data.step.timeout
        attempts = retry.max_attempts if retry else DEFAULT_ATTEMPTS["job"]
        backoff = seconds_of(retry.backoff) if retry else 1.0
        limit_s = seconds_of(timeout) if timeout is not None else None
        job = plan.spec
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                job = replace(plan.spec, job_id=str(workflow.uuid4()))
            priority = Priority(
                priority_key=job.priority,
                fairness_key=plan.fairness_key,
                fairness_weight=plan.fairness_weight,
            )
            handle = await workflow.start_child_workflow(
                job.type,
                job,
                id=job.job_id,
                task_queue=plan.task_queue,
                parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL,
                cancellation_type=workflow.ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
                priority=priority,
                search_attributes=job_search_attributes(job) if plan.search_attributes else None,
            )
            try:
                result = await (handle if limit_s is None else asyncio.wait_for(handle, limit_s))
            except (TimeoutError, Exception) as err:
                if is_cancelled_exception(err):
                    raise
                if attempt >= attempts:
                    info = failure_info(err)
                    found = {"jobId": job.job_id, "attempts": attempt, "type": info.type}
                    return MapOutcome(child.seq, "failed", found, info.message)
                await workflow.sleep(timedelta(seconds=backoff * 2 ** (attempt - 1)))
                continue
            found = {"output": result, "jobId": job.job_id, "attempts": attempt}
            return MapOutcome(child.seq, "succeeded", found)
        raise AssertionError("unreachable")

    async def _flush(self, outcomes: list[MapOutcome], run: ItemRun) -> None:
        if not outcomes:
            return
        run.done += len(outcomes)
        await workflow.execute_local_activity_method(
            MapActivities.write_outcomes,
            MapOutcomesInput(self.spec.job_id, list(outcomes), run.done, run.total),
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RECORDS_RETRY,
        )
        outcomes.clear()
        self.state.progress = Progress(run.done, run.total, unit=UNIT, stage=STAGE)


JOB_TYPE = JobType(
    workflow=PipelineMapWorkflow,
    description="A pipeline run's map step: its step for each item of a list, so many at "
    "once; each item's outcome is one of the job's items (started by the run)",
    activities=[
        MapActivities.seed,
        MapActivities.work,
        MapActivities.prepare_children,
        MapActivities.write_outcomes,
        MapActivities.collect,
    ],
    prepare=prepare_map,
    startable=False,
)
