"""For operators: charts over time, workers and task queues (issue 18)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from jobdeck.api.deps import AdminUser, CurrentUser, RegistryDep, RuntimeDep
from jobdeck.api.operations_schemas import (
    BucketPublic,
    DurationsPublic,
    PollerPublic,
    QueuePublic,
    QueueSidePublic,
    QueuesPublic,
    RunningJobPublic,
    TimeseriesPublic,
)
from jobdeck.services.operations import Operations
from jobdeck.store import operations as ops_store

router = APIRouter(tags=["operations"])


@router.get("/api/stats/timeseries", response_model=TimeseriesPublic)
async def timeseries(
    runtime: RuntimeDep,
    principal: CurrentUser,
    range_: Annotated[
        Literal["hour", "day", "week"],
        Query(alias="range", description="The last hour (by minute), day (15 min) or week (hour)"),
    ] = "hour",
    type_: Annotated[
        str | None, Query(alias="type", max_length=64, description="Only jobs of this type")
    ] = None,
) -> TimeseriesPublic:
    """Jobs created, completed, failed and cancelled per bucket, and duration percentiles
    by type, over the organization's jobs in the range."""
    span, bucket = ops_store.RANGES[range_]
    now = datetime.now(UTC)
    start, end = ops_store.window(now, span, bucket)
    series = await ops_store.timeseries(
        runtime.db,
        organization_id=principal.organization_id,
        start=start,
        end=end,
        bucket_s=int(bucket.total_seconds()),
        now=now,
        job_type=type_ or None,
    )
    return TimeseriesPublic(
        range=range_,
        start=series.start,
        end=series.end,
        bucket_seconds=series.bucket_s,
        type=type_ or None,
        buckets=[BucketPublic(**asdict(b)) for b in series.buckets],
        durations=[DurationsPublic(**asdict(d)) for d in series.durations],
    )


# Admins only: the queues are the deployment's, shared by every organization, so their
# backlog tells of other tenants' load, and pollers and workers name hosts and processes.
@router.get("/api/operations/queues", response_model=QueuesPublic)
async def queues(runtime: RuntimeDep, registry: RegistryDep, principal: AdminUser) -> QueuesPublic:
    """The task queues with their workers and backlog, your running jobs with the worker
    of each, and a warning for a queue whose work no worker polls for (admins only)."""
    report = await Operations(runtime, registry).describe(principal.organization_id)
    return QueuesPublic(
        queues=[
            QueuePublic(
                name=q.name,
                role=q.role,
                types=q.types,
                sides=[
                    QueueSidePublic(
                        kind=s.kind,
                        pollers=[PollerPublic(**asdict(p)) for p in s.pollers],
                        backlog=s.backlog,
                        backlog_age_seconds=s.backlog_age_s,
                        add_rate=s.add_rate,
                        dispatch_rate=s.dispatch_rate,
                        backlog_by_priority=s.backlog_by_priority,
                        error=s.error,
                    )
                    for s in q.sides
                ],
                jobs_waiting=q.jobs_waiting,
                warning=q.warning,
            )
            for q in report.queues
        ],
        running=[RunningJobPublic(**asdict(j)) for j in report.running],
        checked_at=report.checked_at,
    )
