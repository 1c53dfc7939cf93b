"""Workers and task queues for operators (issue 18): the task queues this deployment's job
types use, each with the workers polling it and its backlog (Temporal's DescribeTaskQueue,
with its stats), the caller's running jobs with the worker that runs each step (its
workflow's pending activities), and a warning for a queue that has work and no worker.

The queues are the deployment's, shared by every organization; the jobs listed are the
caller's organization's only."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import func, select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue, TaskQueueStats
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    DescribeWorkflowExecutionRequest,
)

from jobdeck.domain import JobStatus
from jobdeck.registry import JobTypeRegistry
from jobdeck.runtime import Runtime
from jobdeck.store.tables import Job

RPC_TIMEOUT = timedelta(seconds=3)
RUNNING_SHOWN = 20  # the newest running jobs whose workers are looked up
_WAITING = (JobStatus.PENDING.value, JobStatus.ACTIVE.value)
KINDS = {
    "workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
}


@dataclass
class Poller:
    identity: str
    last_access_time: datetime | None
    rate_per_second: float


@dataclass
class QueueSide:
    """One kind of task (workflow or activity) of a queue."""

    kind: str
    pollers: list[Poller] = field(default_factory=list)
    backlog: int = 0
    backlog_age_s: float = 0.0
    add_rate: float = 0.0
    dispatch_rate: float = 0.0
    backlog_by_priority: dict[str, int] = field(default_factory=dict)
    error: str | None = None


@dataclass
class QueueReport:
    name: str
    role: str  # what it is for, in words
    types: list[str]
    sides: list[QueueSide]
    jobs_waiting: int  # the caller's pending and active jobs of its types
    warning: str | None = None


@dataclass
class RunningJob:
    job_id: str
    name: str
    type: str
    step: str | None = None
    attempt: int | None = None
    worker: str | None = None
    state: str | None = None


@dataclass
class QueuesReport:
    queues: list[QueueReport]
    running: list[RunningJob]
    checked_at: datetime


def _time(stamp: Timestamp) -> datetime | None:
    if not stamp.seconds and not stamp.nanos:
        return None
    return stamp.ToDatetime(tzinfo=UTC)


def _side(kind: str, response: Any) -> QueueSide:
    stats: TaskQueueStats = response.stats
    return QueueSide(
        kind=kind,
        pollers=[
            Poller(p.identity, _time(p.last_access_time), round(p.rate_per_second, 3))
            for p in response.pollers
        ],
        backlog=int(stats.approximate_backlog_count),
        backlog_age_s=round(stats.approximate_backlog_age.ToTimedelta().total_seconds(), 3),
        add_rate=round(stats.tasks_add_rate, 3),
        dispatch_rate=round(stats.tasks_dispatch_rate, 3),
        backlog_by_priority={
            str(key): int(value.approximate_backlog_count)
            for key, value in sorted(response.stats_by_priority_key.items())
            if value.approximate_backlog_count
        },
    )


class Operations:
    def __init__(self, runtime: Runtime, registry: JobTypeRegistry) -> None:
        self.runtime = runtime
        self.registry = registry

    def queues(self) -> list[tuple[str, str, list[str], list[str]]]:
        """(name, role, job types, kinds of task) of every task queue the job types use."""
        settings = self.runtime.settings
        default = settings.task_queue
        found: dict[str, tuple[str, list[str], list[str]]] = {
            default: ("jobs: workflows and their steps", [], list(KINDS))
        }
        for job_type in self.registry.all():
            queue = job_type.task_queue or default
            found.setdefault(queue, (f"{job_type.name} jobs", [], list(KINDS)))[1].append(
                job_type.name
            )
        # Types with steps on a queue of their own (training: only workers fit to train
        # poll it, for activities), whatever this process's own worker settings say.
        own = [t.name for t in self.registry.all() if t.queues is not None]
        if own:
            found.setdefault(
                settings.training_queue, ("training steps (workers fit to train)", [], ["activity"])
            )
            found[settings.training_queue][1].extend(own)
        return [(name, role, types, kinds) for name, (role, types, kinds) in found.items()]

    async def describe(self, organization_id: str) -> QueuesReport:
        queues = self.queues()
        waiting = await self._waiting(organization_id)
        asked = [(name, kind) for name, _, _, kinds in queues for kind in kinds]
        answers = await asyncio.gather(*(self._describe(name, kind) for name, kind in asked))
        by_queue: dict[str, list[QueueSide]] = {}
        for (name, _), side in zip(asked, answers, strict=True):
            by_queue.setdefault(name, []).append(side)
        reports = []
        for name, role, types, _ in queues:
            mine = by_queue[name]
            jobs_waiting = sum(waiting.get(t, 0) for t in types)
            reports.append(
                QueueReport(
                    name=name,
                    role=role,
                    types=types,
                    sides=mine,
                    jobs_waiting=jobs_waiting,
                    warning=_warning(name, mine, jobs_waiting),
                )
            )
        return QueuesReport(
            queues=reports,
            running=await self._running(organization_id),
            checked_at=datetime.now(UTC),
        )

    async def _describe(self, queue: str, kind: str) -> QueueSide:
        settings = self.runtime.settings
        request = DescribeTaskQueueRequest(
            namespace=settings.temporal_namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=KINDS[kind],
            report_stats=True,
        )
        try:
            response = await self.runtime.temporal.workflow_service.describe_task_queue(
                request, timeout=RPC_TIMEOUT
            )
        except Exception as err:  # noqa: BLE001 (shown on the queue, the others still answer)
            return QueueSide(kind=kind, error=f"Temporal did not describe it: {err}")
        return _side(kind, response)

    async def _waiting(self, organization_id: str) -> dict[str, int]:
        stmt = (
            select(Job.type, func.count())
            .where(Job.organization_id == organization_id, Job.status.in_(_WAITING))
            .group_by(Job.type)
        )
        async with self.runtime.db.read() as session:
            return {t: int(n) for t, n in (await session.execute(stmt)).all()}

    async def _running(self, organization_id: str) -> list[RunningJob]:
        stmt = (
            select(Job.id, Job.name, Job.type)
            .where(Job.organization_id == organization_id, Job.status == JobStatus.ACTIVE.value)
            .order_by(Job.created_at.desc(), Job.id.desc())
            .limit(RUNNING_SHOWN)
        )
        async with self.runtime.db.read() as session:
            rows = (await session.execute(stmt)).all()
        jobs = [RunningJob(job_id=i, name=n, type=t) for i, n, t in rows]
        await asyncio.gather(*(self._worker_of(job) for job in jobs))
        return jobs

    async def _worker_of(self, job: RunningJob) -> None:
        """Fill in the step a running job's workflow waits on and the worker that runs it
        (where Temporal knows: a step not yet picked up has no worker)."""
        request = DescribeWorkflowExecutionRequest(
            namespace=self.runtime.settings.temporal_namespace,
            execution=WorkflowExecution(workflow_id=job.job_id),
        )
        try:
            response = await self.runtime.temporal.workflow_service.describe_workflow_execution(
                request, timeout=RPC_TIMEOUT
            )
        except Exception:  # noqa: BLE001 (the job is listed without its worker)
            return
        steps = list(response.pending_activities)
        if not steps:
            return
        step = max(
            steps, key=lambda a: _time(a.last_started_time) or datetime.min.replace(tzinfo=UTC)
        )
        job.step = step.activity_type.name
        job.attempt = step.attempt
        job.worker = step.last_worker_identity or None
        job.state = {1: "scheduled", 2: "started", 3: "cancel requested", 4: "paused"}.get(
            int(step.state)
        )


def _warning(queue: str, sides: list[QueueSide], jobs_waiting: int) -> str | None:
    """A queue with work (a backlog, or jobs of its types waiting) and no worker polling a
    kind of task it needs."""
    for side in sides:
        if side.error or side.pollers:
            continue
        other_polled = any(s.pollers for s in sides if s is not side)
        if side.backlog:
            return (
                f"{side.backlog} {side.kind} task(s) wait on {queue!r} and no worker polls it "
                "for them: start a worker that serves this queue"
            )
        if jobs_waiting and not other_polled:
            return (
                f"{jobs_waiting} job(s) of its types are pending or active and no worker polls "
                f"{queue!r}: they cannot progress until one does"
            )
    return None
