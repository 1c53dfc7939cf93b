"""The workflow-execution job: a run of a user's pipeline, interpreted step by step.

The run pins its pipeline version: the first activity loads that version's spec (the
result is in the history, so a replay sees the same spec whatever was saved since). The
spec is a DAG; every step whose dependencies have finished starts at once, so
independent branches run in parallel. Steps that do I/O (transform, http, llm) are
activities; `sleep`/`wait` are durable timers; `approval` waits for the `decide` update;
`job` starts any jobdeck job type as a Temporal child workflow; `map` starts one child
job (`pipeline-map`, workflows/pipeline_map.py) that runs its step for each item. Child
workflows, rather than an activity that starts the job and polls it: waiting costs no
worker slot and no polling, the child's history is linked to the run's in Temporal, a
cancelled run cancels its children through Temporal (ParentClosePolicy.REQUEST_CANCEL,
and the cancel of the awaiting step), and the child's own lifecycle writes its row on its
first step, with `parent_id` = the run. The child's spec is checked first by an activity
with the same rules as POST /api/jobs (JobControl.prepare_started).

Every step change is recorded (a local activity) in pipeline_run_steps with the run's
progress and an event carrying the steps' new statuses: the live feed shows them.

A run begun on this code (patch INLINE_STEPS) does two things cheaper. A transform step
is evaluated in the workflow itself (JMESPath is deterministic) when its context holds no
large output and its own output is small enough to stay inline; otherwise, and for any
surprise, it is the `run_step` activity as before. And step changes are buffered and
recorded together by one flusher: a chain of inline transforms costs one `record`, and an
activity step's "completed" goes out with the next step's "running". Each change is still
its own entry, in order, in the event the feed carries.

A run begun on this code (patch DEFERRED_RECORDS) also holds its step records back while
an activity step runs, for at most the job's progress interval. A local activity keeps
its workflow task open until it returns, and the step activity scheduled in that task is
sent only then: recording at once put a database write before every activity step. Each
change carries the time it happened (`at`), so the rows' times stay true; the `steps`
query is live as before, and the run's last changes are recorded before it ends.

Queries: `progress` (JobWorkflow), `steps` (each step's status, reason, error, child job).
Updates: `decide` (approve or reject an approval step that is waiting).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import Priority, RetryPolicy
from temporalio.exceptions import ApplicationError, is_cancelled_exception

from jobdeck.workflows.jobtype import JobType
from jobdeck.workflows.lifecycle import JobWorkflow, failure_info, record
from jobdeck.workflows.patches import CHILD_FAIRNESS, DEFERRED_RECORDS, INLINE_STEPS, patched

with workflow.unsafe.imports_passed_through():
    import jmespath
    from jmespath.exceptions import JMESPathError

    from jobdeck.activities.pipeline import (
        ChildJobInput,
        EvalInput,
        LoadInput,
        PipelineActivities,
        RecordInput,
        StepResult,
        StepRun,
    )
    from jobdeck.activities.pipeline_runs import prepare_run
    from jobdeck.domain import JobSpec, Progress
    from jobdeck.inputs import WorkflowExecutionData
    from jobdeck.pipelines import refs
    from jobdeck.pipelines.maps import DEFAULT_ATTEMPTS, DEFAULT_TIMEOUT_S, MAP_TYPE
    from jobdeck.pipelines.runs import TERMINAL_STEP_STATUSES, StepStatus
    from jobdeck.pipelines.spec import PipelineSpec, seconds_of
    from jobdeck.pipelines.validate import dependencies
    from jobdeck.temporal import job_search_attributes

# Loading, preparing a child and reading large outputs are short reads: retried with
# backoff until the database or Temporal answers again.
SHORT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)
SHORT_TIMEOUT = timedelta(seconds=60)


@dataclass
class Decision:
    step_id: str
    approve: bool
    by: str
    note: str | None = None


def _truthy(value: Any) -> bool:
    """JMESPath's truth: false, null, "", [] and {} are false."""
    return value not in (False, None, "", [], {})


@workflow.defn(name="workflow-execution")
class PipelineWorkflow(JobWorkflow[WorkflowExecutionData]):
    def __init__(self) -> None:
        super().__init__()
        self.step_state: dict[str, dict[str, Any]] = {}
        self.decisions: dict[str, Decision] = {}
        self.context: dict[str, Any] = {"inputs": {}, "steps": {}}
        self.deps: dict[str, list[str]] = {}
        # INLINE_STEPS: the largest transform output kept inline (None: no inline
        # transforms), the changes not yet recorded, and whether a record is under way.
        self.coalesce = False
        self.inline_bytes: int | None = None
        self.pending: list[dict[str, Any]] = []
        self.flushing = False
        # DEFERRED_RECORDS: whether records wait while activity steps run (how many run
        # now), and when the oldest change that waits was made.
        self.defer = False
        self.activity_steps = 0
        self.pending_since: datetime | None = None
        # The step tasks _run_all waits on: while one of them is done, the run moves on
        # within this workflow task, so the flusher waits for what it adds.
        self.waiting_on: list[asyncio.Task[None]] = []

    @workflow.run
    async def run(self, spec: JobSpec) -> dict[str, Any] | None:
        return await self.run_job(spec)

    @workflow.query(name="steps")
    def steps(self) -> dict[str, Any]:
        return {"steps": self.step_state}

    @workflow.update
    async def decide(self, decision: Decision) -> dict[str, Any]:
        self.decisions[decision.step_id] = decision
        return {"stepId": decision.step_id, "approved": decision.approve}

    @decide.validator
    def _check_decision(self, decision: Decision) -> None:
        state = self.step_state.get(decision.step_id)
        if state is None:
            raise ValueError(f"the run has no step {decision.step_id!r}")
        if state["kind"] != "approval":
            raise ValueError(f"step {decision.step_id} is a {state['kind']} step, not an approval")
        if state["status"] != StepStatus.WAITING or decision.step_id in self.decisions:
            raise ValueError(
                f"step {decision.step_id} is {state['status']}, not waiting for a decision"
            )

    async def execute(self, spec: JobSpec, data: WorkflowExecutionData) -> dict[str, Any] | None:
        # Asked once, first: the whole run takes one path (a replay learns it here).
        self.coalesce = patched(INLINE_STEPS)
        self.defer = self.coalesce and patched(DEFERRED_RECORDS)
        loaded = await workflow.execute_activity_method(
            PipelineActivities.load,
            LoadInput(
                job_id=spec.job_id,
                organization_id=spec.organization_id,
                pipeline_id=data.workflow_id,
                version=data.version or 1,
                rerun_of=data.rerun_of,
                from_step=data.from_step,
            ),
            start_to_close_timeout=SHORT_TIMEOUT,
            retry_policy=SHORT_RETRY,
        )
        pipeline = PipelineSpec.model_validate(loaded.spec)
        if self.coalesce:
            self.inline_bytes = loaded.inline_output_bytes
        self.deps = dependencies(pipeline)
        self.context = {"inputs": dict(data.inputs), "steps": {}}
        for step in pipeline.steps:
            self.step_state[step.id] = {"kind": step.kind, "status": StepStatus.PENDING.value}
        for step_id, was in loaded.reused.items():
            self.step_state[step_id].update(status=was["status"], reason=was.get("reason"))
            self.context["steps"][step_id] = {
                "output": was["output"],
                "status": was["status"],
                "error": was["error"],
            }
        self.state.progress = self._progress()
        if not self.coalesce:
            return await self._run_and_resolve(pipeline)
        flusher = asyncio.create_task(self._flusher())
        try:
            return await self._run_and_resolve(pipeline)
        finally:
            # The run's last changes are recorded before it ends, whichever way it ends
            # (run_job's ending record comes after this).
            try:
                await self._flushed()
            finally:
                flusher.cancel()

    async def _run_and_resolve(self, pipeline: PipelineSpec) -> dict[str, Any]:
        spec = self.spec
        await self._run_all(pipeline)
        try:
            return dict(refs.resolve(pipeline.outputs, self.context, whole_blobs=True))
        except refs.NeedsBlob:
            result: dict[str, Any] = await workflow.execute_activity_method(
                PipelineActivities.evaluate,
                EvalInput(spec.job_id, spec.organization_id, self.context, value=pipeline.outputs),
                start_to_close_timeout=SHORT_TIMEOUT,
                retry_policy=SHORT_RETRY,
            )
            return result

    async def _run_all(self, pipeline: PipelineSpec) -> None:
        tasks: dict[str, asyncio.Task[None]] = {}
        try:
            while True:
                for step in pipeline.steps:
                    if step.id in tasks or self.step_state[step.id]["status"] != StepStatus.PENDING:
                        continue
                    if all(self._finished(d) for d in self.deps[step.id]):
                        tasks[step.id] = asyncio.create_task(self._step(step))
                running = [t for t in tasks.values() if not t.done()]
                failed = next((t for t in tasks.values() if t.done() and t.exception()), None)
                if failed is not None:
                    await self._stop(tasks, pipeline, "the run failed")
                    raise failed.exception()  # type: ignore[misc]
                if not running:
                    return
                self.waiting_on = running
                await workflow.wait_condition(lambda: any(t.done() for t in running))  # noqa: B023
                self.waiting_on = []  # (a failure's _stop below must not hold the flusher)
        except BaseException as err:
            self.waiting_on = []
            if is_cancelled_exception(err):
                await self._stop(tasks, pipeline, "the run was cancelled")
            raise

    def _finished(self, step_id: str) -> bool:
        return self.step_state[step_id]["status"] in TERMINAL_STEP_STATUSES

    async def _stop(
        self, tasks: dict[str, asyncio.Task[None]], pipeline: PipelineSpec, why: str
    ) -> None:
        """Cancel the steps still running (their child jobs are cancelled and waited for),
        and mark those that never started."""
        for task in tasks.values():
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        left = [
            {"step_id": s.id, "status": StepStatus.CANCELLED.value, "reason": why}
            for s in pipeline.steps
            if self.step_state[s.id]["status"] == StepStatus.PENDING
        ]
        if left:
            await self._record(left)

    def _progress(self) -> Progress:
        states = self.step_state
        done = sum(1 for s in states.values() if s["status"] in TERMINAL_STEP_STATUSES)
        waiting = [k for k, s in states.items() if s["status"] == StepStatus.WAITING]
        running = [k for k, s in states.items() if s["status"] == StepStatus.RUNNING]
        if waiting:
            message = f"waiting for approval: {', '.join(waiting)}"
        elif running:
            message = f"running: {', '.join(running)}"
        else:
            message = None
        return Progress(
            current=done,
            total=len(states),
            unit="steps",
            stage=", ".join(running + waiting) or None,
            message=message,
        )

    async def _record(self, changes: list[dict[str, Any]]) -> None:
        for change in changes:
            state = self.step_state[change["step_id"]]
            for key in ("status", "reason", "error", "attempts"):
                if key in change:
                    state[key] = change[key]
            if "child_job_id" in change:
                state["childJobId"] = change["child_job_id"]
        progress = self._progress()
        self.state.progress = progress
        if self.coalesce:
            if not self.pending:
                self.pending_since = workflow.now()
            if self.defer:
                at = workflow.now().isoformat()
                changes = [{**change, "at": at} for change in changes]
            self.pending.extend(changes)  # the flusher records them
            return
        await record(
            PipelineActivities.record,
            RecordInput(self.spec.job_id, changes, progress.to_json()),
        )

    def _may_flush(self) -> bool:
        """Changes wait, no record is under way, and the run cannot move on in this
        workflow task (conditions are checked once every ready task has run: a step task
        that went on is done or waits on the world)."""
        return (
            bool(self.pending) and not self.flushing and not any(t.done() for t in self.waiting_on)
        )

    async def _flusher(self) -> None:
        """Records the buffered changes, one `record` at a time (so a step's changes land
        in order), each with the run's progress as it is then. While an activity step
        runs they wait (DEFERRED_RECORDS), until no activity step runs or they are a
        progress interval old: a record now would hold back the workflow task that
        schedules the step. One timer stands for that age across a chain of steps (a
        timer per step would add two history events to each)."""
        deadline: asyncio.Task[None] | None = None

        def waited() -> bool:
            return deadline is not None and deadline.done()

        try:
            while True:
                await workflow.wait_condition(self._may_flush)
                if self.defer and self.activity_steps and not waited():
                    if deadline is None:
                        since = self.pending_since or workflow.now()
                        due = since + self._progress_interval - workflow.now()
                        if due > timedelta(0):
                            deadline = asyncio.create_task(workflow.sleep(due))
                    if deadline is not None:
                        await workflow.wait_condition(lambda: waited() or not self.activity_steps)
                        continue  # asked again: the next step may be running by now
                if deadline is not None:
                    deadline.cancel()  # (nothing, if it has fired)
                    deadline = None
                changes, self.pending = self.pending, []
                self.flushing = True
                try:
                    await record(
                        PipelineActivities.record,
                        RecordInput(self.spec.job_id, changes, self.state.progress.to_json()),
                    )
                finally:
                    self.flushing = False
        finally:
            if deadline is not None:
                deadline.cancel()

    async def _flushed(self) -> None:
        """Waits until every change is recorded. A cancel that arrives meanwhile does not
        cut it short (it is raised once they are)."""

        def done() -> bool:
            return not self.pending and not self.flushing

        try:
            await workflow.wait_condition(done)
        except asyncio.CancelledError:
            await workflow.wait_condition(done)
            raise

    def _context_of(self, step_id: str) -> dict[str, Any]:
        """What a step may read: the inputs and the steps it depends on."""
        steps = self.context["steps"]
        return {
            "inputs": self.context["inputs"],
            "steps": {d: steps[d] for d in self.deps[step_id] if d in steps},
        }

    async def _read(self, step_id: str, *, value: Any = None, expression: str | None = None) -> Any:
        """A value's references resolved, or an expression evaluated, over the step's
        context; by an activity when it reaches into a large output."""
        context = self._context_of(step_id)
        try:
            if expression is not None:
                if any(refs.is_blob(s.get("output")) for s in context["steps"].values()):
                    raise refs.NeedsBlob("")
                return jmespath.search(expression, context)
            return refs.resolve(value, context)
        except refs.NeedsBlob:
            return await workflow.execute_activity_method(
                PipelineActivities.evaluate,
                EvalInput(
                    self.spec.job_id,
                    self.spec.organization_id,
                    context,
                    expression=expression,
                    value=value,
                ),
                start_to_close_timeout=SHORT_TIMEOUT,
                retry_policy=SHORT_RETRY,
            )

    async def _step(self, step: Any) -> None:
        step_id = step.id
        # A step after one that was skipped or failed (continueOnError) is skipped too,
        # unless it has a condition of its own: that decides (it can read their status).
        for dep in self.deps[step_id] if step.if_ is None else []:
            status = self.step_state[dep]["status"]
            if status == StepStatus.SKIPPED:
                return await self._end(step_id, StepStatus.SKIPPED, reason=f"{dep} was skipped")
            if status != StepStatus.COMPLETED:
                return await self._end(step_id, StepStatus.SKIPPED, reason=f"{dep} {status}")
        if step.if_ is not None and not _truthy(await self._read(step_id, expression=step.if_)):
            return await self._end(
                step_id, StepStatus.SKIPPED, reason=f"condition {step.if_!r} is false"
            )
        first = StepStatus.WAITING if step.kind == "approval" else StepStatus.RUNNING
        await self._record([{"step_id": step_id, "status": first.value, "attempts": 1}])
        try:
            output, details = await self._run_kind(step)
        except BaseException as err:
            if is_cancelled_exception(err):
                await self._end(step_id, StepStatus.CANCELLED, reason="cancelled")
                raise
            if not isinstance(err, Exception):
                raise
            info = failure_info(err)
            await self._end(step_id, StepStatus.FAILED, error=info.to_json())
            if step.continue_on_error:
                return None
            raise ApplicationError(
                f"step {step_id} failed: {info.message}",
                {"step": step_id, "error": info.to_json()},
                type=info.type,
                non_retryable=True,
            ) from err
        await self._end(step_id, StepStatus.COMPLETED, output=output, details=details)
        return None

    async def _end(
        self,
        step_id: str,
        status: StepStatus,
        *,
        reason: str | None = None,
        error: dict[str, Any] | None = None,
        output: Any = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.context["steps"][step_id] = {"output": output, "status": status.value, "error": error}
        change: dict[str, Any] = {"step_id": step_id, "status": status.value}
        if reason is not None:
            change["reason"] = reason
        if error is not None:
            change["error"] = error
        if status == StepStatus.COMPLETED:
            change["output"] = output
        if details is not None:
            change["details"] = details
        await self._record([change])

    async def _run_kind(self, step: Any) -> tuple[Any, dict[str, Any] | None]:
        kind = step.kind
        timeout = seconds_of(step.timeout) if step.timeout is not None else None
        if kind == "transform" and self.inline_bytes is not None:
            inline, output = self._transform_inline(step, self.inline_bytes)
            if inline:
                return output, None
        if kind in ("transform", "http", "llm"):
            attempts = step.retry.max_attempts if step.retry else DEFAULT_ATTEMPTS[kind]
            backoff = seconds_of(step.retry.backoff) if step.retry else 1.0
            self.activity_steps += 1
            try:
                result = await self._run_step(step, timeout, attempts, backoff)
            finally:
                self.activity_steps -= 1
            return result.output, result.details
        if kind == "sleep":
            seconds = seconds_of(await self._read(step.id, value=step.seconds))
            await workflow.sleep(timedelta(seconds=seconds))
            return None, None
        if kind == "wait":
            until = datetime.fromisoformat(str(await self._read(step.id, value=step.until)))
            if until.tzinfo is None:
                raise ApplicationError(
                    f"{until.isoformat()} has no time zone", type="InvalidTime", non_retryable=True
                )
            left = (until - workflow.now()).total_seconds()
            if left > 0:
                await workflow.sleep(timedelta(seconds=left))
            return None, None
        if kind == "approval":
            return await self._approval(step, timeout), None
        if kind == "job":
            return await self._job(step, timeout), None
        if kind == "map":
            return await self._map(step, timeout)
        raise ApplicationError(f"unknown step kind {kind!r}", type="StepKind", non_retryable=True)

    async def _run_step(
        self, step: Any, limit_s: float | None, attempts: int, backoff: float
    ) -> StepResult:
        return await workflow.execute_activity_method(
            PipelineActivities.run_step,
            StepRun(
                self.spec.job_id,
                self.spec.organization_id,
                step.model_dump(mode="json", by_alias=True),
                self._context_of(step.id),
            ),
            start_to_close_timeout=timedelta(seconds=limit_s or DEFAULT_TIMEOUT_S[step.kind]),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=max(backoff, 0.01)),
                backoff_coefficient=2.0,
                maximum_attempts=attempts,
            ),
        )

    def _transform_inline(self, step: Any, limit_bytes: int) -> tuple[bool, Any]:
        """(True, output) for a transform evaluated here, as the activity would: its
        context holds no large output (the workflow cannot read one) and its output's JSON
        is at most `limit_bytes` (the size the activity keeps inline). (False, None): the
        activity runs it (a larger output goes to file storage; any other surprise gets
        the activity's handling, retries included). A bad expression fails the step as
        the activity's does: non-retryable InvalidExpression naming the step."""
        context = self._context_of(step.id)
        if refs.holds_blob(context):
            return False, None
        try:
            data = context if step.input is None else refs.resolve(step.input, context)
            output = jmespath.search(step.expression, data)
            size = len(json.dumps(output).encode())
        except (JMESPathError, refs.ReferenceProblem) as err:
            raise ApplicationError(
                f"step {step.id}: {err}", type="InvalidExpression", non_retryable=True
            ) from None
        except Exception:
            return False, None
        return (True, output) if size <= limit_bytes else (False, None)

    async def _approval(self, step: Any, limit_s: float | None) -> dict[str, Any]:
        try:
            await workflow.wait_condition(
                lambda: step.id in self.decisions,
                timeout=timedelta(seconds=limit_s) if limit_s is not None else None,
            )
            decision = self.decisions[step.id]
        except TimeoutError:
            if step.default_decision is None:
                raise ApplicationError(
                    f"no decision within {limit_s:g} s", type="ApprovalTimedOut", non_retryable=True
                ) from None
            decision = Decision(
                step.id,
                step.default_decision == "approve",
                "timeout",
                f"no decision within {limit_s:g} s",
            )
        output = {
            "decision": "approved" if decision.approve else "rejected",
            "by": decision.by,
            "note": decision.note,
        }
        if not decision.approve:
            note = f": {decision.note}" if decision.note else ""
            raise ApplicationError(
                f"rejected by {decision.by}{note}",
                output,
                type="ApprovalRejected",
                non_retryable=True,
            )
        return output

    async def _job(self, step: Any, limit_s: float | None) -> Any:
        attempts = step.retry.max_attempts if step.retry else DEFAULT_ATTEMPTS["job"]
        backoff = seconds_of(step.retry.backoff) if step.retry else 1.0
        for attempt in range(1, attempts + 1):
            handle = await self._start_child(step, step.job_type, step.data, attempt)
            try:
                if limit_s is None:
                    return await handle
                return await asyncio.wait_for(handle, limit_s)
            except (TimeoutError, Exception) as err:
                if is_cancelled_exception(err) or attempt >= attempts:
                    raise
                await workflow.sleep(timedelta(seconds=backoff * 2 ** (attempt - 1)))
        raise AssertionError("unreachable")

    async def _map(self, step: Any, limit_s: float | None) -> tuple[Any, dict[str, Any]]:
        """A map step is one child job (workflows/pipeline_map.py: why, and how it keeps
        10,000 items within the history limits); its result carries the step's output
        and the item counts. Only specs with a map step reach here (the kind did not
        exist before), so no recorded history meets these commands: no patch."""
        data = {
            "stepId": step.id,
            "step": step.step.model_dump(mode="json", by_alias=True, exclude_unset=True),
            "items": step.items,
            "concurrency": step.concurrency,
            "continueOnError": step.continue_on_error,
            "context": self._context_of(step.id),
        }
        handle = await self._start_child(step, MAP_TYPE, data, 1, resolve=False)
        result: dict[str, Any] = await (
            handle if limit_s is None else asyncio.wait_for(handle, limit_s)
        )
        details = {k: v for k, v in result.items() if k != "output"}
        return result.get("output"), {**details, "itemsJobId": handle.id}

    async def _start_child(
        self, step: Any, job_type: str, data: dict[str, Any], attempt: int, *, resolve: bool = True
    ) -> workflow.ChildWorkflowHandle[Any, Any]:
        """A step's child job: checked by an activity, recorded on the step, started."""
        spec = self.spec
        child_id = str(workflow.uuid4())
        plan = await workflow.execute_activity_method(
            PipelineActivities.prepare_job,
            ChildJobInput(
                run_job_id=spec.job_id,
                organization_id=spec.organization_id,
                user_id=spec.user_id,
                step_id=step.id,
                job_id=child_id,
                job_type=job_type,
                name=getattr(step, "job_name", None) or f"{spec.name} / {step.id}",
                data=data,
                context=self._context_of(step.id) if resolve else {},
                priority=getattr(step, "priority", None) or spec.priority,
                created_at=workflow.now().isoformat(),
                progress_interval_s=spec.progress_interval_s,
                resolve=resolve,
            ),
            start_to_close_timeout=SHORT_TIMEOUT,
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                maximum_interval=timedelta(seconds=30),
                maximum_attempts=20,
            ),
        )
        await self._record([{"step_id": step.id, "child_job_id": child_id, "attempts": attempt}])
        priority = Priority(priority_key=plan.spec.priority)
        # A child job starts with its organization as its fairness key, like any job.
        if patched(CHILD_FAIRNESS) and plan.fairness_key is not None:
            priority = Priority(
                priority_key=plan.spec.priority,
                fairness_key=plan.fairness_key,
                fairness_weight=plan.fairness_weight,
            )
        return await workflow.start_child_workflow(
            plan.spec.type,
            plan.spec,
            id=child_id,
            task_queue=plan.task_queue,
            parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL,
            cancellation_type=workflow.ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
            priority=priority,
            search_attributes=job_search_attributes(plan.spec) if plan.search_attributes else None,
        )


JOB_TYPE = JobType(
    workflow=PipelineWorkflow,
    description="Run a pipeline (a user-defined DAG of steps: transforms, timers, approvals, "
    "HTTP calls, LLM calls, child jobs, maps over lists) at a pinned version",
    activities=[
        PipelineActivities.load,
        PipelineActivities.record,
        PipelineActivities.evaluate,
        PipelineActivities.run_step,
        PipelineActivities.prepare_job,
    ],
    prepare=prepare_run,
)
