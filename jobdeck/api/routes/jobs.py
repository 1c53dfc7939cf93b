"""Jobs: create, list, search, stats, one job, its events and logs, cancel and retry."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from jobdeck.api.deps import CurrentUser, JobsDep, RegistryDep, RuntimeDep
from jobdeck.api.listing import ListingParams
from jobdeck.api.ratelimit import RATE_LIMITED, CreationLimit
from jobdeck.api.schemas import (
    JobCreate,
    JobEventPublic,
    JobEventsPublic,
    JobLogLinePublic,
    JobLogsPublic,
    JobPublic,
    JobsPublic,
    JobStats,
    JobTypePublic,
)
from jobdeck.api.views import job_public
from jobdeck.domain import JobFilter, JobStatus
from jobdeck.errors import InvalidInput
from jobdeck.services.jobs import NewJob
from jobdeck.store import events as event_store
from jobdeck.store import jobs as job_store
from jobdeck.store import logs as log_store
from jobdeck.store import schedules as schedule_store
from jobdeck.store.tables import StuckJob

router = APIRouter(prefix="/api/jobs", tags=["jobs"])

# ?count=true stops counting here: past it, "more than 10,000" tells as much as the exact
# number, and a search matching most of a million jobs is counted in a fraction of the time.
COUNT_CAP = 10_000

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Repeat a request safely: same key, same job"),
]


def _split(values: list[str] | None) -> list[str]:
    """Accept both ?status=a&status=b and ?status=a,b."""
    return [v.strip() for raw in values or [] for v in raw.split(",") if v.strip()]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=JobPublic,
    dependencies=[CreationLimit],
    responses=RATE_LIMITED,
)
async def create_job(
    body: JobCreate,
    runtime: RuntimeDep,
    jobs: JobsDep,
    principal: CurrentUser,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> JobPublic:
    """Create a job of any type; it returns at once, pending, and runs in the background."""
    new = NewJob(
        type=body.type,
        name=body.name,
        data=body.data,
        description=body.description,
        priority=body.priority,
        depends_on=body.depends_on,
    )
    job, created = await jobs.create(principal, new, idempotency_key=idempotency_key)
    if not created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/api/jobs/{job.id}"
    return job_public(job, runtime.settings)


@router.get("", response_model=JobsPublic)
async def list_jobs(
    runtime: RuntimeDep,
    principal: CurrentUser,
    listing: Annotated[ListingParams, Depends()],
    status_: Annotated[list[str] | None, Query(alias="status")] = None,
    type_: Annotated[list[str] | None, Query(alias="type")] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Search name, description, type")
    ] = None,
    parent: Annotated[
        str | None, Query(max_length=36, description="Only the jobs this job started")
    ] = None,
    schedule: Annotated[
        str | None, Query(max_length=64, description="Only the jobs this schedule fired")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=job_store.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> JobsPublic:
    """List the organization's jobs, newest first (or by ?sort=), filtered and paginated by
    cursor; ?count=true adds the number of jobs matching the filter."""
    statuses = _split(status_)
    known = {s.value for s in JobStatus}
    for value in statuses:
        if value not in known:
            raise InvalidInput(f"unknown status {value!r}; one of: {', '.join(sorted(known))}")
    flt = listing.narrow(
        JobFilter(
            statuses=statuses,
            types=_split(type_),
            q=q or None,
            parent_id=parent,
            schedule_id=schedule,
        )
    )
    async with runtime.db.read() as session:
        jobs, next_cursor = await job_store.list_jobs(
            session,
            organization_id=principal.organization_id,
            flt=flt,
            limit=limit,
            cursor=cursor,
            sort=listing.sort,
        )
        total, capped = None, False
        if listing.count:
            total = await job_store.count_jobs(
                session, organization_id=principal.organization_id, flt=flt, cap=COUNT_CAP
            )
            capped = total > COUNT_CAP
            total = min(total, COUNT_CAP)
        stuck = await _stuck(session, [job.id for job in jobs])
    return JobsPublic(
        data=[job_public(job, runtime.settings, stuck.get(job.id)) for job in jobs],
        next_cursor=next_cursor,
        total=total,
        total_capped=capped,
    )


@router.get("/stats", response_model=JobStats)
async def job_stats(runtime: RuntimeDep, principal: CurrentUser) -> JobStats:
    """Count the organization's jobs by status."""
    async with runtime.db.read() as session:
        counts = await job_store.job_stats(session, organization_id=principal.organization_id)
    return JobStats(**counts)


@router.get("/types", response_model=list[JobTypePublic])
async def job_types(registry: RegistryDep, principal: CurrentUser) -> list[JobTypePublic]:
    """The job types this deployment runs, with the JSON Schema of each one's input."""
    return [
        JobTypePublic(
            name=t.name,
            description=t.description,
            startable=t.startable,
            input_schema=t.input_model.model_json_schema(by_alias=True),
        )
        for t in registry.all()
    ]


@router.get("/{job_id}", response_model=JobPublic)
async def get_job(job_id: str, runtime: RuntimeDep, principal: CurrentUser) -> JobPublic:
    """One job, with its progress, error, result, attempts and links."""
    async with runtime.db.read() as session:
        job = await job_store.get_job(
            session, organization_id=principal.organization_id, job_id=job_id
        )
        stuck = await _stuck(session, [job.id])
    return job_public(job, runtime.settings, stuck.get(job.id))


async def _stuck(session: AsyncSession, job_ids: list[str]) -> dict[str, StuckJob]:
    """The watchdog's rows of these jobs (one lookup by key per page)."""
    rows = await schedule_store.stuck_jobs(session, job_ids=job_ids) if job_ids else []
    return {row.job_id: row for row in rows}


@router.get("/{job_id}/events", response_model=JobEventsPublic)
async def job_events(
    job_id: str,
    runtime: RuntimeDep,
    principal: CurrentUser,
    after: Annotated[int, Query(ge=0, description="Only events with a larger id")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> JobEventsPublic:
    """A job's timeline: status changes, progress, messages, failed attempts."""
    async with runtime.db.read() as session:
        await job_store.get_job(session, organization_id=principal.organization_id, job_id=job_id)
        events = await event_store.list_events(
            session,
            organization_id=principal.organization_id,
            job_id=job_id,
            after=after,
            limit=limit,
        )
    return JobEventsPublic(
        data=[
            JobEventPublic(
                id=e.id, job_id=e.job_id, kind=e.kind, data=e.data, created_at=e.created_at
            )
            for e in events
        ],
        next_after=events[-1].id if events else after,
    )


LogLevel = Literal["debug", "info", "warning", "error", "critical"]


@router.get("/{job_id}/logs", response_model=JobLogsPublic)
async def job_logs(
    job_id: str,
    runtime: RuntimeDep,
    principal: CurrentUser,
    after: Annotated[
        int, Query(ge=0, le=log_store.MAX_ID, description="Only lines with a larger id")
    ] = 0,
    level: Annotated[LogLevel | None, Query(description="This level and above")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Lines containing this")] = None,
    limit: Annotated[int, Query(ge=1, le=log_store.MAX_PAGE)] = 500,
) -> JobLogsPublic:
    """A job's own log lines (what its steps logged through activity.logger), oldest first."""
    async with runtime.db.read() as session:
        await job_store.get_job(session, organization_id=principal.organization_id, job_id=job_id)
        lines = await log_store.list_lines(
            session, job_id=job_id, after=after, level=level, q=q, limit=limit
        )
    return JobLogsPublic(
        data=[
            JobLogLinePublic(
                id=line.id,
                time=line.time,
                level=line.level,
                message=line.message,
                step=line.step,
                attempt=line.attempt,
            )
            for line in lines
        ],
        next_after=lines[-1].id if lines else after,
    )


@router.patch("/{job_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic)
async def cancel_job(
    job_id: str, runtime: RuntimeDep, jobs: JobsDep, principal: CurrentUser
) -> JobPublic:
    """Request cancellation; the job ends `cancelled` once its current step has stopped."""
    job = await jobs.cancel(principal, job_id)
    return job_public(job, runtime.settings)


@router.post(
    "/{job_id}/retry",
    status_code=status.HTTP_201_CREATED,
    response_model=JobPublic,
    dependencies=[CreationLimit],
    responses=RATE_LIMITED,
)
async def retry_job(
    job_id: str,
    runtime: RuntimeDep,
    jobs: JobsDep,
    principal: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> JobPublic:
    """Create a new job with the input of a failed or cancelled one (linked by retryOf)."""
    job = await jobs.retry(principal, job_id, idempotency_key=idempotency_key)
    return job_public(job, runtime.settings)
