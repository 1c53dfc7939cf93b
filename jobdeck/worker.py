"""The worker: builds each activity group once from the shared clients, registers on each
task queue exactly the workflows and activities the declared job types need, and runs
until told to stop."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections import defaultdict
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

from temporalio.converter import (
    DataConverter,
    StorageDriverStoreContext,
    StorageDriverWorkflowInfo,
    WorkflowSerializationContext,
)
from temporalio.worker import Worker, WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from jobdeck.activities.attempts import AttemptTracking
from jobdeck.activities.base import ActivityGroup, JobActions
from jobdeck.activities.delivery import Deliveries
from jobdeck.activities.eager import EagerWhenIdle
from jobdeck.activities.joblogs import JobLogCapture, JobLogSink
from jobdeck.activities.outage import OutageWait, beat_again
from jobdeck.activities.pickup import PickUp
from jobdeck.activities.records import JobRecords
from jobdeck.activities.slots import SlotKeeper
from jobdeck.config import Settings
from jobdeck.redact import Redactor
from jobdeck.registry import JobTypeRegistry, load_registry
from jobdeck.runtime import Runtime, open_runtime
from jobdeck.services.jobs import JobControl
from jobdeck.services.schedules import upgrade_actions
from jobdeck.services.stuck import ensure_watchdog_schedule
from jobdeck.temporal import ensure_search_attributes
from jobdeck.workflows.delivery import DeliveryWorkflow
from jobdeck.workflows.jobtype import Activity
from jobdeck.workflows.scheduled import SCHEDULED_RUN_ACTIVITIES, ScheduledRunWorkflow
from jobdeck.workflows.stuck import WATCHDOG_ACTIVITIES, WatchdogWorkflow

logger = logging.getLogger(__name__)


def activity_owner(activity: Activity) -> type[Any] | None:
    """The class an unbound activity method was declared on (None: a plain function)."""
    owner_name, _, method = activity.__qualname__.rpartition(".")
    if not owner_name:
        return None
    owner = getattr(sys.modules[activity.__module__], owner_name, None)
    if not isinstance(owner, type):
        raise TypeError(f"cannot find the class of activity {activity.__qualname__}")
    return owner


class ActivityBinder:
    """Binds declared activities to one instance of their class per worker process."""

    def __init__(self, runtime: Runtime, jobs: JobActions) -> None:
        self.runtime = runtime
        self.jobs = jobs
        self.groups: dict[type[Any], Any] = {}

    def bind(self, activity: Activity) -> Callable[..., Any]:
        owner = activity_owner(activity)
        if owner is None:
            return activity
        if owner not in self.groups:
            if not issubclass(owner, ActivityGroup):
                raise TypeError(f"{owner.__name__} must subclass ActivityGroup")
            self.groups[owner] = owner(self.runtime, self.jobs)
        bound: Callable[..., Any] = getattr(self.groups[owner], activity.__name__)
        return bound


# The workflow sandbox imports each workflow's module afresh for every workflow run, with
# whatever it imports outside `imports_passed_through()`, and enforces Temporal's
# restrictions (no clock, no random, no I/O) on the calls of the modules it imported. The
# lifecycle every job type shares (and the item runner, slots, the JobType declaration) is
# deterministic library code without module state: imported once and shared in either mode.
SHARED_WORKFLOW_MODULES = (
    "jobdeck.workflows.lifecycle",
    "jobdeck.workflows.items",
    "jobdeck.workflows.jobtype",
    "jobdeck.workflows.slots",
    "jobdeck.workflows.resumes",
    "jobdeck.workflows.patches",
)


def workflow_runner(
    settings: Settings, data_converter: DataConverter | None = None
) -> SandboxedWorkflowRunner:
    """`fresh` (Temporal's default): each run imports the job types' workflow modules anew,
    under the restrictions. `shared`: every module is imported once; a run costs the worker
    about 4 ms of CPU less (bench/throughput.py, a trivial job: 30.4 -> 26.6 ms, measured
    at load ~6), but a call the restrictions forbid, made from a job type's module, is no
    longer caught.
    The tests run `fresh` (tests/conftest.py), so such a call fails there, where a job type
    is written, and the replay tests check every workflow's determinism besides.
    With `data_converter` (the worker's) and a converter that encodes the same whatever
    the context, the runner skips the per-payload context lookups (ContextFreeRunner)."""
    restrictions = SandboxRestrictions.default
    if settings.workflow_modules == "shared":
        restrictions = restrictions.with_passthrough_all_modules()
    else:
        restrictions = restrictions.with_passthrough_modules(*SHARED_WORKFLOW_MODULES)
    if data_converter is not None and is_context_free(data_converter):
        return ContextFreeRunner(restrictions=restrictions)
    return SandboxedWorkflowRunner(restrictions=restrictions)


def is_context_free(converter: DataConverter) -> bool:
    """Whether `converter` encodes every payload the same whatever its serialization
    context: no part of it takes a context (the default converter, which jobdeck uses)
    and no external storage."""
    probe = WorkflowSerializationContext(namespace="probe", workflow_id="probe")
    return converter.external_storage is None and converter.with_context(probe) is converter


class ContextFreeRunner(SandboxedWorkflowRunner):
    """The sandboxed runner, less a cost that buys nothing with a context-free converter.

    For every payload of every activation and completion the SDK asks the workflow
    instance which serialization context (and external-store target) the payload's
    command has, and the sandboxed instance answers by running code inside the sandbox:
    about a sixth of the worker's CPU on a pipeline of http steps (py-spy). With a
    converter that ignores the context (`is_context_free`) every answer leads to the same
    bytes, so these instances answer at once: no context (the context-free converter,
    identical here) and the workflow itself as the store target (unused: no storage)."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        instance = super().create_instance(det)
        info = det.info
        store = StorageDriverStoreContext(
            target=StorageDriverWorkflowInfo(
                id=info.workflow_id,
                run_id=info.run_id,
                type=info.workflow_type,
                namespace=info.namespace,
            )
        )

        def serialization_context(_command: object) -> None:
            return None

        def store_context(_command: object) -> StorageDriverStoreContext:
            return store

        # Per instance, so only these two answers change; everything else is the SDK's.
        instance.get_serialization_context = serialization_context  # type: ignore[method-assign,assignment]
        instance.get_external_store_context = store_context  # type: ignore[method-assign,assignment]
        return instance


def build_workers(
    runtime: Runtime, registry: JobTypeRegistry, *, task_queue: str | None = None
) -> list[Worker]:
    """One Temporal worker per task queue used by the registered job types."""
    settings = runtime.settings
    runner = workflow_runner(settings, runtime.temporal.data_converter)
    # A provider call waiting for its budget heartbeats its step meanwhile.
    runtime.budgets.keep_alive = beat_again
    records = JobRecords(runtime.db, settings)
    slots = SlotKeeper(runtime)
    binder = ActivityBinder(runtime, JobControl(runtime, registry))
    # Job logs: what the jobs' own code logs through activity.logger, kept per job.
    job_log_sink = JobLogSink(runtime.db, Redactor.of(settings))
    runtime.closers.append(job_log_sink.aclose)
    job_logs = JobLogCapture(job_log_sink)
    eager = EagerWhenIdle()  # one backlog watch for the process's workers
    default_queue = task_queue or settings.task_queue
    workflows: dict[str, list[type[Any]]] = defaultdict(list)
    # Per queue, by activity: a step two types declare is registered once.
    activities: dict[str, dict[Activity, None]] = defaultdict(dict)
    limits: dict[str, int] = {}
    # Workflow names are job type names; a type may mark its own start (marks_started).
    marking = {t.name: getattr(t.workflow, "marks_started", True) for t in registry.all()}

    def starts_on_pickup(workflow_type: str) -> bool:
        return marking.get(workflow_type, True)

    for job_type in registry.all():
        queue = job_type.task_queue or default_queue
        workflows[queue].append(job_type.workflow)
        activities[queue].update(dict.fromkeys(job_type.activities))
        for extra in job_type.queues(settings) if job_type.queues else []:
            workflows.setdefault(extra.task_queue, [])
            activities[extra.task_queue].update(dict.fromkeys(extra.activities))
            if extra.max_concurrent is not None:
                limits[extra.task_queue] = extra.max_concurrent
    # Notification deliveries (issue 15) run on the default task queue.
    workflows[default_queue].append(DeliveryWorkflow)
    activities[default_queue][Deliveries.attempt] = None
    # The watchdog (stuck jobs, missed schedule runs; issue 15) runs on the default queue.
    workflows[default_queue].append(WatchdogWorkflow)
    activities[default_queue].update(dict.fromkeys(WATCHDOG_ACTIVITIES))
    # Each schedule's run checks and starts its job from the default queue (issue 15).
    workflows[default_queue].append(ScheduledRunWorkflow)
    activities[default_queue].update(dict.fromkeys(SCHEDULED_RUN_ACTIVITIES))
    return [
        Worker(
            runtime.temporal,
            task_queue=queue,
            workflows=workflows[queue],
            activities=[
                *records.all(),
                *slots.all(),  # every job's wait for a concurrency slot (issue 16)
                *(binder.bind(a) for a in activities[queue]),
            ],
            # Outermost first: an outage is waited out before anything counts it as a try.
            interceptors=[
                eager,
                job_logs,
                OutageWait(),
                PickUp(records, starts_on_pickup),
                AttemptTracking(records),
            ],
            max_concurrent_activities=limits.get(queue, settings.worker_max_concurrent_activities),
            # Heartbeats carry cancel requests back to activities; this bounds their delay.
            max_heartbeat_throttle_interval=timedelta(seconds=settings.heartbeat_interval_s),
            default_heartbeat_throttle_interval=timedelta(seconds=settings.heartbeat_interval_s),
            graceful_shutdown_timeout=timedelta(seconds=10),
            # Eager activities, asked for by EagerWhenIdle only while the queue has no
            # backlog (jobdeck/activities/eager.py).
            disable_eager_activity_execution=False,
            workflow_runner=runner,
        )
        for queue in workflows
    ]


async def run_worker(settings: Settings) -> None:
    registry = load_registry(settings.job_type_modules)
    async with open_runtime(settings) as runtime:
        await ensure_search_attributes(runtime.temporal, settings.temporal_namespace)
        await ensure_watchdog_schedule(runtime, registry)
        await upgrade_actions(runtime)
        workers = build_workers(runtime, registry)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with AsyncExitStack() as stack:
            for worker in workers:
                await stack.enter_async_context(worker)
            logger.info(
                "worker running",
                extra={"task_queues": [w.task_queue for w in workers]},
            )
            await stop.wait()
            logger.info("worker stopping")
