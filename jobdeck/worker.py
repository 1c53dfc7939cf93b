"""The worker: builds the shared clients once, registers every job type's workflows and
activities on their task queues, and runs until told to stop."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from jobdeck.activities.attempts import AttemptTracking
from jobdeck.activities.pickup import PickUp
from jobdeck.activities.records import JobRecords
from jobdeck.config import Settings
from jobdeck.jobtypes import JobTypeRegistry, load_registry
from jobdeck.runtime import Runtime
from jobdeck.store.engine import Database
from jobdeck.temporal import connect, ensure_search_attributes

logger = logging.getLogger(__name__)


def build_workers(runtime: Runtime, *, task_queue: str | None = None) -> list[Worker]:
    """One Temporal worker per task queue used by the registered job types."""
    settings = runtime.settings
    records = JobRecords(runtime.db, settings)
    default_queue = task_queue or settings.task_queue
    workflows: dict[str, list[type[Any]]] = defaultdict(list)
    activities: dict[str, list[Any]] = defaultdict(list)
    limits: dict[str, int] = {}
    # Workflow names are job type names; a type may mark its own start (marks_started).
    marking = {t.name: getattr(t.workflow, "marks_started", True) for t in runtime.registry.all()}

    def starts_on_pickup(workflow_type: str) -> bool:
        return marking.get(workflow_type, True)

    for job_type in runtime.registry.all():
        queue = job_type.task_queue or default_queue
        workflows[queue].append(job_type.workflow)
        if job_type.activities is not None:
            activities[queue].extend(job_type.activities(runtime))
        for extra in job_type.queued_activities(runtime) if job_type.queued_activities else []:
            workflows.setdefault(extra.task_queue, [])
            activities[extra.task_queue].extend(extra.activities)
            if extra.max_concurrent is not None:
                limits[extra.task_queue] = extra.max_concurrent
    return [
        Worker(
            runtime.temporal,
            task_queue=queue,
            workflows=workflows[queue],
            activities=[*records.all(), *activities[queue]],
            interceptors=[PickUp(records, starts_on_pickup), AttemptTracking(records)],
            max_concurrent_activities=limits.get(queue, settings.worker_max_concurrent_activities),
            # Heartbeats carry cancel requests back to activities; this bounds their delay.
            max_heartbeat_throttle_interval=timedelta(seconds=settings.heartbeat_interval_s),
            default_heartbeat_throttle_interval=timedelta(seconds=settings.heartbeat_interval_s),
            graceful_shutdown_timeout=timedelta(seconds=10),
            # Eager activities skip the task queue, and with it the queue's priority order.
            disable_eager_activity_execution=True,
        )
        for queue in workflows
    ]


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    temporal: Client | None = None,
    registry: JobTypeRegistry | None = None,
    for_api: bool = False,
) -> AsyncIterator[Runtime]:
    """The clients a worker or an API process holds for its whole life."""
    db = Database.connect(settings.database_url)
    try:
        client = temporal or await connect(settings, for_api=for_api)
        runtime = Runtime(
            settings=settings,
            db=db,
            temporal=client,
            registry=registry or load_registry(settings.job_type_modules),
        )
        try:
            yield runtime
        finally:
            await runtime.aclose()
    finally:
        await db.dispose()


async def run_worker(settings: Settings) -> None:
    async with open_runtime(settings) as runtime:
        await ensure_search_attributes(runtime.temporal, settings.temporal_namespace)
        workers = build_workers(runtime)
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
