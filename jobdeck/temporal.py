"""How jobdeck talks to Temporal: the client, the search attributes operators filter on,
and the start options every job workflow gets. Shared by the API, the worker and the CLI."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from temporalio.api.enums.v1 import IndexedValueType, TaskQueueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RetryConfig

from jobdeck import tracing
from jobdeck.config import Settings
from jobdeck.domain import JobSpec
from jobdeck.errors import Unavailable

logger = logging.getLogger(__name__)

JOB_TYPE = SearchAttributeKey.for_keyword("JobType")
JOB_ORGANIZATION = SearchAttributeKey.for_keyword("JobOrganization")
JOB_NAME = SearchAttributeKey.for_keyword("JobName")
SEARCH_ATTRIBUTES = (JOB_TYPE, JOB_ORGANIZATION, JOB_NAME)


def dev_server_search_attribute_args() -> list[str]:
    """`temporal server start-dev` flags that register jobdeck's search attributes."""
    args: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    return args


def job_search_attributes(spec: JobSpec) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(JOB_TYPE, spec.type),
            SearchAttributePair(JOB_ORGANIZATION, spec.organization_id),
            # Keyword values are capped by the server; the name is for filtering, not storage.
            SearchAttributePair(JOB_NAME, spec.name[:200]),
        ]
    )


@asynccontextmanager
async def bounded(settings: Settings) -> AsyncIterator[timedelta]:
    """For a Temporal call made while serving a request: the RPC timeout to pass it, and a
    deadline over the whole call (a lazy client's first connect included) that raises
    Unavailable rather than keeping the caller waiting on a server that hangs."""
    limit = settings.temporal_call_timeout_s
    try:
        async with asyncio.timeout(limit + 0.5):
            yield timedelta(seconds=limit)
    except TimeoutError as err:
        raise Unavailable(
            f"the job engine (Temporal) did not answer within {limit:g} s; try again"
        ) from err


async def connect(settings: Settings, *, for_api: bool = False) -> Client:
    """A Temporal client. The API's is lazy, so the API starts (and serves reads and health)
    while Temporal is down, and gives up on a call after 3 s so a client hears 503 soon."""
    # With tracing on (jobdeck.tracing), the client's calls and, through the worker that
    # takes the client's interceptors, workflows and activities join the job's trace.
    interceptors = tracing.temporal_interceptors()
    if not for_api:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            interceptors=interceptors,
        )
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        lazy=True,
        retry_config=RetryConfig(max_elapsed_time_millis=3000),
        interceptors=interceptors,
    )


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Register the search attributes on a cluster that lacks them; a no-op once done."""
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = {
        key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        for key in SEARCH_ATTRIBUTES
        if key.name not in existing.custom_attributes
    }
    if missing:
        logger.info("registering search attributes", extra={"names": sorted(missing)})
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )


async def activity_pollers(
    client: Client,
    namespace: str,
    task_queue: str,
    *,
    rpc_timeout: timedelta = timedelta(seconds=3),
) -> int:
    """How many workers polled a task queue for activities lately (the server's view).
    Asked while serving requests, so it waits a few seconds at most."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        ),
        timeout=rpc_timeout,
    )
    return len(response.pollers)
