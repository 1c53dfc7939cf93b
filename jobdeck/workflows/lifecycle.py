"""The lifecycle every job workflow shares: pending → active → completed | failed |
cancelled, with the job row kept current through the records activities.

A job type subclasses `JobWorkflow[ItsInputModel]`, implements `execute(spec, data)` (data
arrives as that model, checked), and defines a `@workflow.run` method that returns
`await self.run_job(spec)`. A long run keeps its continue-as-new state in a model of its
own (`resumed` / `continue_as_new`).

Queries: `progress` — the job's status and typed progress as the workflow knows it.
Signals: `jobdeck.slot-granted` (workflows/slots.py) and, for a job created with
`dependsOn`, `jobdeck.dependency-finished` (workflows/dependencies.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, NoReturn, TypeVar, get_args, get_origin

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    TimeoutError,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from jobdeck.activities.attempts import describe_error
    from jobdeck.activities.records import (
        Completion,
        Failure,
        JobRecords,
        JobRef,
        ProgressReport,
    )
    from jobdeck.activities.slots import SlotAnswer
    from jobdeck.domain import JobErrorInfo, JobSpec, JobStatus, Progress
    from jobdeck.workflows.dependencies import wait_for_dependencies
    from jobdeck.workflows.patches import (
        CONCURRENCY_SLOTS,
        LOCAL_BOOKKEEPING,
        SCHEDULED_JOB_IDS,
        SLOTS_IN_RECORDS,
        START_ON_PICKUP,
        open_run,
        patched,
    )
    from jobdeck.workflows.slots import run_in_slot

# Bookkeeping must outlive a database outage rather than lose a job's ending: no cap on
# attempts, backoff capped at 30 s.
RECORDS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)


def scheduled_run(spec: JobSpec) -> JobSpec:
    """A schedule's spec made this run's own (see SCHEDULED_JOB_IDS); others unchanged."""
    if spec.job_id or not patched(SCHEDULED_JOB_IDS):
        return spec
    info = workflow.info()
    started = info.workflow_start_time.isoformat()
    return replace(spec, job_id=info.workflow_id, created_at=started)


async def record(
    method: Callable[[Any, Any], Awaitable[Any]], arg: Any, *, local: bool = True
) -> Any:
    """Run one of the JobRecords activities with the bookkeeping timeouts and retries.

    Bookkeeping is a short database write, so it runs as a local activity: in the worker,
    within the workflow task, with no server round trip. `mark_started` stays a regular
    activity (local=False): it is the moment a worker slot picks the job up, in the task
    queue's priority order, which is what `active` means."""
    if local and patched(LOCAL_BOOKKEEPING):
        return await workflow.execute_local_activity_method(
            method, arg, start_to_close_timeout=timedelta(seconds=30), retry_policy=RECORDS_RETRY
        )
    return await workflow.execute_activity_method(
        method, arg, start_to_close_timeout=timedelta(seconds=30), retry_policy=RECORDS_RETRY
    )


@dataclass
class JobState:
    status: JobStatus = JobStatus.PENDING
    progress: Progress = field(default_factory=Progress)


def failure_info(err: BaseException) -> JobErrorInfo:
    """What a person should read about why a job failed."""
    cause: BaseException = err
    while isinstance(cause, ActivityError | ChildWorkflowError) and cause.cause is not None:
        cause = cause.cause
    if isinstance(cause, TimeoutError):
        kind = cause.type.name.lower().replace("_", " ") if cause.type else "timeout"
        return JobErrorInfo(type="Timeout", message=f"a step of the job timed out ({kind})")
    return describe_error(cause)


InputT = TypeVar("InputT", bound="BaseModel")
ResumeT = TypeVar("ResumeT", bound="BaseModel")


class JobWorkflow(Generic[InputT]):
    # False: a step of the job type marks the job active itself (see workflows/training.py).
    marks_started = True
    # The model of the job's `data`: the type argument, e.g. JobWorkflow[FineTuningData].
    input_model: ClassVar[type[BaseModel]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            if get_origin(base) is JobWorkflow:
                cls.input_model = get_args(base)[0]

    def __init__(self) -> None:
        self.state = JobState()
        self._progress_interval = timedelta(seconds=0.5)
        self._reported_at: datetime | None = None
        self._spec: JobSpec | None = None

    @property
    def spec(self) -> JobSpec:
        assert self._spec is not None, "run_job has not started"
        return self._spec

    @workflow.query
    def progress(self) -> dict[str, Any]:
        return {"status": self.state.status.value, "progress": self.state.progress.to_json()}

    async def execute(self, spec: JobSpec, data: InputT) -> dict[str, Any] | None:
        raise NotImplementedError

    def resumed(self, model: type[ResumeT]) -> ResumeT | None:
        """The state a continued-as-new run left for this one (None on the first run)."""
        return None if self.spec.resume is None else model.model_validate(self.spec.resume)

    def continue_as_new(self, state: BaseModel) -> NoReturn:
        """Go on in a fresh run (a fresh history) from `state`, with the same job."""
        workflow.continue_as_new(
            replace(self.spec, resume=state.model_dump(mode="json", by_alias=True))
        )

    async def run_job(self, spec: JobSpec) -> dict[str, Any] | None:
        open_run()
        spec = scheduled_run(spec)
        self._spec = spec
        if spec.depends_on and spec.resume is None:
            # Before the first step, which takes the job's concurrency slot: a job that
            # waits holds none. New commands for these jobs alone (no run begun on earlier
            # code had depends_on), so no patch.
            await self._wait_for_dependencies()
        first: SlotAnswer | None = None
        try:
            if self.marks_started and patched(START_ON_PICKUP):
                # No job without its row.
                if patched(SLOTS_IN_RECORDS):
                    first = await record(JobRecords.begin, spec)
                else:
                    await record(JobRecords.ensure_row, spec)
                if spec.progress_interval_s is not None:
                    self._progress_interval = timedelta(seconds=spec.progress_interval_s)
                self.state.status = JobStatus.ACTIVE
            elif self.marks_started:
                started = await record(JobRecords.mark_started, spec, local=False)
                self._progress_interval = timedelta(seconds=started.progress_interval_s)
                self.state.status = JobStatus.ACTIVE
            # The API checked the data with the same model: this only types it.
            data: InputT = self.input_model.model_validate(spec.data)  # type: ignore[assignment]
            if patched(CONCURRENCY_SLOTS):
                result = await run_in_slot(
                    spec,
                    self.state,
                    lambda: self.execute(spec, data),
                    first=first,
                    frees=not patched(SLOTS_IN_RECORDS),
                )
            else:
                result = await self.execute(spec, data)
        except BaseException as err:
            if is_cancelled_exception(err):
                await self._end_cancelled()
                raise
            if not isinstance(err, Exception):
                raise
            await self._end_failed(err)
        self.state.status = JobStatus.COMPLETED
        await record(JobRecords.mark_completed, Completion(spec.job_id, result))
        return result

    async def on_cancel(self) -> None:
        """A job type's cleanup when its job is cancelled (e.g. cancel at a provider)."""

    async def _wait_for_dependencies(self) -> None:
        """Wait for the jobs this one depends on; end it cancelled, with the reason, if one
        of them failed or was cancelled (the job never started: no cleanup to run)."""
        try:
            blocked = await wait_for_dependencies(self.spec, self.state)
        except BaseException as err:
            if is_cancelled_exception(err):
                await self._end_cancelled()
                raise
            if not isinstance(err, Exception):
                raise
            await self._end_failed(err)
        if blocked is None:
            return
        self.state.status = JobStatus.CANCELLED
        await record(JobRecords.mark_cancelled, JobRef(self.spec.job_id, error=blocked))
        # The job is `cancelled`; its workflow fails, saying why, in Temporal's own views.
        raise ApplicationError(
            blocked["message"], blocked["details"], type=blocked["type"], non_retryable=True
        )

    async def _end_failed(self, err: Exception) -> NoReturn:
        info = failure_info(err)
        self.state.status = JobStatus.FAILED
        await record(JobRecords.mark_failed, Failure(self.spec.job_id, info.to_json()))
        raise ApplicationError(
            info.message, info.details, type=info.type, non_retryable=True
        ) from err

    async def _end_cancelled(self) -> None:
        self.state.status = JobStatus.CANCELLED
        try:
            await self.on_cancel()
        finally:
            await record(JobRecords.mark_cancelled, JobRef(self.spec.job_id))

    async def report(self, progress: Progress, *, force: bool = False) -> None:
        """Report progress from workflow code: the query sees it at once; the job row at
        most every progress interval (and always when forced)."""
        self.state.progress = progress
        now = workflow.now()
        if not force and self._reported_at and now - self._reported_at < self._progress_interval:
            return
        self._reported_at = now
        await record(
            JobRecords.report_progress, ProgressReport(self.spec.job_id, progress.to_json())
        )
