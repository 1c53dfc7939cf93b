"""The only door to the jobs table. Every change to a job row appends its event (see
store/events.py) in the same transaction, and a terminal job never changes again."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Row, Select, Table, bindparam, cast, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from jobdeck.domain import (
    TERMINAL_STATUSES,
    EventKind,
    JobFilter,
    JobSpec,
    JobStatus,
    Progress,
    with_rate,
)
from jobdeck.errors import InvalidInput, NotFound
from jobdeck.store import dependencies, pages, rollups
from jobdeck.store.events import (
    append_event,
    insert_event,
    insert_event_core,
    order_events,
    order_events_core,
)
from jobdeck.store.tables import JOB_DURATION_MS, JOB_SEARCH_TEXTS, Job, JobEvent

MAX_PAGE = pages.MAX_PAGE  # the routes' bound on ?limit=
_TERMINAL = [s.value for s in TERMINAL_STATUSES]


async def insert_job(
    session: AsyncSession,
    *,
    spec: JobSpec,
    now: datetime,
    status: JobStatus = JobStatus.PENDING,
) -> Job | None:
    """Insert the job unless a row with its id (or idempotency key) exists; returns the new
    row, or None when there was one already.

    Both the API and the workflow's first step call this, so whichever runs first after a
    crash creates the row and the other leaves it alone."""
    created_at = datetime.fromisoformat(spec.created_at) if spec.created_at else now
    values = {
        "id": spec.job_id,
        "organization_id": spec.organization_id,
        "user_id": spec.user_id,
        "type": spec.type,
        "name": spec.name,
        "description": spec.description,
        "status": status.value,
        "priority": spec.priority,
        "data": spec.data,
        "attempts": 0,
        "retry_of": spec.retry_of,
        "parent_id": spec.parent_id,
        "schedule_id": spec.schedule_id,
        "idempotency_key": spec.idempotency_key,
        "depends_on": spec.depends_on or None,
        "created_at": created_at,
        "updated_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Job).values(**values).on_conflict_do_nothing().returning(Job)
    await order_events(session)  # before the row's lock (see order_events)
    job = (await session.execute(stmt)).scalar_one_or_none()
    if job is not None:
        if spec.depends_on:
            await dependencies.add(session, job_id=job.id, depends_on=spec.depends_on)
        await append_event(session, job=job, kind=EventKind.CREATED, now=now)
        if created_at < now - rollups.SEAL_LAG:  # written late: its chart buckets change
            await rollups.forget(session, organization_id=spec.organization_id, when=created_at)
    return job


_JOBS: Table = Job.__table__  # type: ignore[assignment]  # the Core table, for hot paths
# What a job's event carries of it (events.public_state), read back by a Core update.
_PUBLIC_STATE = (
    Job.id,
    Job.organization_id,
    Job.type,
    Job.name,
    Job.status,
    Job.progress,
    Job.attempts,
    Job.error,
    Job.started_at,
    Job.finished_at,
    Job.retry_of,
    Job.parent_id,
    Job.schedule_id,
)


# A progress report's statements, built once (see report_progress), on the table's own
# columns: an ORM attribute anywhere in a statement sends it through the ORM's execution.
_READ_PROGRESS = select(_JOBS.c.status, _JOBS.c.progress, _JOBS.c.updated_at).where(
    _JOBS.c.id == bindparam("job_id")
)
_WRITE_PROGRESS = (
    update(_JOBS)
    .where(_JOBS.c.id == bindparam("job_id"), _JOBS.c.status.not_in(_TERMINAL))
    .values(progress=bindparam("progress"), updated_at=bindparam("now"))
    .returning(*(_JOBS.c[column.key] for column in _PUBLIC_STATE))
)


async def report_progress(
    conn: AsyncConnection,
    *,
    job_id: str,
    progress: Progress,
    now: datetime,
    derived: bool = False,
) -> bool:
    """A running job's progress report, with its rate and ETA derived from the report
    before it: three prebuilt Core statements (read, update, event) on a Core connection
    (Database.transact_core), with no ORM session, since a job may report many times a
    second; two when the reporter `derived` them already from the report it wrote
    before. It guards as `change_job` does: False when the job is missing or has ended
    (a terminal job never changes)."""
    await order_events_core(conn)  # before the row's lock (see order_events)
    report = progress
    if not derived:
        before = (await conn.execute(_READ_PROGRESS, {"job_id": job_id})).first()
        if before is None or JobStatus(before.status).is_terminal:
            return False
        if progress.rate is None and before.progress:
            elapsed = (now - before.updated_at).total_seconds()
            report = with_rate(progress, Progress.from_json(before.progress), elapsed)
    values = {"job_id": job_id, "progress": report.to_json(), "now": now}
    state = (await conn.execute(_WRITE_PROGRESS, values)).first()
    if state is None:
        return False
    await insert_event_core(conn, state=state, kind=EventKind.PROGRESS, now=now)
    return True


async def change_job(
    session: AsyncSession,
    *,
    job_id: str,
    kind: EventKind,
    now: datetime,
    values: dict[str, Any] | None = None,
    event_data: dict[str, Any] | None = None,
    from_statuses: Sequence[JobStatus] | None = None,
    returning: Sequence[Any] = (),
) -> Row[Any] | None:
    """Apply `values` to a job that is not terminal (or is in one of `from_statuses`) and
    append its event. Returns the job's state after the change (the columns its event
    carries, `_PUBLIC_STATE`, and the labelled expressions of `returning`), or None when
    the guard refused the change.

    Two Core statements and no ORM unit of work: every step of every job passes here. An
    ORM `Job` this session loaded before is not refreshed (`find_job` reloads)."""
    guard = (
        Job.status.in_([s.value for s in from_statuses])
        if from_statuses is not None
        else Job.status.not_in(_TERMINAL)
    )
    stmt = (
        update(_JOBS)
        .where(Job.id == job_id, guard)
        .values(**(values or {}), updated_at=now)
        .returning(*_PUBLIC_STATE, *returning)
    )
    await order_events(session)  # before the row's lock (see order_events)
    state = (await session.execute(stmt)).first()
    if state is None:
        return None
    await insert_event(session, state=state, kind=kind, now=now, data=event_data)
    return state


async def note_event(
    session: AsyncSession,
    *,
    job_id: str,
    kind: EventKind,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> JobEvent | None:
    """Append an event to a job without changing its row (messages, metrics)."""
    job = await session.get(Job, job_id)
    if job is None:
        return None
    return await append_event(session, job=job, kind=kind, now=now, data=data)


async def job_state(session: AsyncSession, *, job_id: str) -> Row[Any] | None:
    """The job's state as its events carry it (`_PUBLIC_STATE`), read by one Core select:
    for the hot paths that only look (find_job loads the whole ORM object)."""
    return (await session.execute(select(*_PUBLIC_STATE).where(Job.id == job_id))).first()


async def show_waiting(
    session: AsyncSession,
    *,
    job_id: str,
    stage: str,
    message: str | None,
    clears: str,
    now: datetime,
) -> None:
    """Say in a pending job's progress what it waits for (a slot, the jobs it depends on);
    None clears a message that starts with `clears` (the wait is over). Writes only when
    the message changes, and only while the job is pending."""
    job = await job_state(session, job_id=job_id)
    if job is None or job.status != JobStatus.PENDING:
        return
    current = Progress.from_json(job.progress).message
    if current == message or (message is None and not (current or "").startswith(clears)):
        return
    progress = Progress(stage=stage, message=message) if message else Progress()
    await change_job(
        session,
        job_id=job_id,
        kind=EventKind.PROGRESS,
        now=now,
        values={"progress": progress.to_json()},
        from_statuses=[JobStatus.PENDING],
    )


async def find_job(session: AsyncSession, *, job_id: str) -> Job | None:
    return await session.get(Job, job_id, populate_existing=True)


async def get_job(session: AsyncSession, *, organization_id: str, job_id: str) -> Job:
    job = await session.get(Job, job_id, populate_existing=True)
    # Another organization's job is reported exactly like a missing one.
    if job is None or job.organization_id != organization_id:
        raise NotFound(f"job {job_id} not found")
    return job


def _filtered(
    organization_id: str,
    flt: JobFilter,
    *,
    created_before: datetime | None = None,
    exclude_id: str | None = None,
) -> Select[Job]:
    stmt = select(Job).where(Job.organization_id == organization_id)
    if created_before is not None:
        stmt = stmt.where(Job.created_at <= created_before)
    if exclude_id is not None:
        stmt = stmt.where(Job.id != exclude_id)
    if flt.statuses:
        stmt = stmt.where(Job.status.in_(flt.statuses))
    if flt.types:
        stmt = stmt.where(Job.type.in_(flt.types))
    if flt.ids:
        stmt = stmt.where(Job.id.in_(flt.ids))
    if flt.parent_id is not None:
        stmt = stmt.where(Job.parent_id == flt.parent_id)
    if flt.schedule_id is not None:
        stmt = stmt.where(Job.schedule_id == flt.schedule_id)
    if flt.priorities:
        stmt = stmt.where(Job.priority.in_(flt.priorities))
    if flt.user_ids:
        stmt = stmt.where(Job.user_id.in_(flt.user_ids))
    if flt.created_after is not None:
        stmt = stmt.where(Job.created_at >= flt.created_after)
    if flt.created_before is not None:
        stmt = stmt.where(Job.created_at < flt.created_before)
    if flt.q:
        # The name, description and type under ix_jobs_search (trigrams) on PostgreSQL.
        needle = flt.q.lower()
        stmt = stmt.where(
            or_(*(text.contains(needle, autoescape=True) for text in JOB_SEARCH_TEXTS))
        )
    return stmt


async def list_jobs(
    session: AsyncSession,
    *,
    organization_id: str,
    flt: JobFilter,
    limit: int = 50,
    cursor: str | None = None,
    created_before: datetime | None = None,
    exclude_id: str | None = None,
    sort: str = "-created",
) -> tuple[list[Job], str | None]:
    """Newest first (or in `sort`'s order, see SORTS), keyset-paginated on (created_at, id),
    led by the sort's key, so deep pages stay fast."""
    stmt = _filtered(organization_id, flt, created_before=created_before, exclude_id=exclude_id)
    if sort == "-created":
        return await pages.keyset_page(session, stmt, Job, limit=limit, cursor=cursor)
    if sort.lstrip("-") not in SORTS:
        raise InvalidInput(f"unknown sort {sort!r}; one of: {', '.join(sort_names())}")
    key = _sort_key(sort.lstrip("-"), session.get_bind().dialect.name)
    return await pages.sorted_page(
        session,
        stmt,
        Job,
        sort=sort,
        key=key,
        descending=sort.startswith("-"),
        limit=limit,
        cursor=cursor,
    )


# The orders the jobs list can be sorted in; "-name" is the same key descending.
SORTS = ("created", "duration", "status")


def sort_names() -> list[str]:
    return [name for key in SORTS for name in (key, f"-{key}")]


def _sort_key(name: str, dialect: str) -> Any:
    """The leading key of a sort (None: created_at itself)."""
    if name == "status":
        return Job.status
    if name == "duration":
        return duration_millis(dialect)
    return None


def duration_millis(dialect: str) -> Any:
    """A job's duration in whole milliseconds, start to finish; -1 for a job not finished,
    so they sort together. Whole numbers compare exactly, as the cursor needs (SQLite's
    julianday arithmetic is a float, good to well under a millisecond)."""
    if dialect == "postgresql":
        return JOB_DURATION_MS  # read from ix_jobs_org_duration
    span = (func.julianday(Job.finished_at) - func.julianday(Job.started_at)) * 86_400_000
    return func.coalesce(cast(func.round(span), BigInteger), -1)


async def count_jobs(
    session: AsyncSession,
    *,
    organization_id: str,
    flt: JobFilter,
    created_before: datetime | None = None,
    exclude_id: str | None = None,
    cap: int | None = None,
) -> int:
    """The jobs matching; with `cap`, counting stops past it (returns at most cap + 1): a
    search matching a quarter of a million jobs is counted in the time of ten thousand."""
    stmt = _filtered(organization_id, flt, created_before=created_before, exclude_id=exclude_id)
    matching = stmt.with_only_columns(Job.id)
    if cap is not None:
        matching = matching.limit(cap + 1)
    sub = matching.subquery()
    return int((await session.execute(select(func.count()).select_from(sub))).scalar_one())


async def job_stats(session: AsyncSession, *, organization_id: str) -> dict[str, int]:
    stmt = (
        select(Job.status, func.count())
        .where(Job.organization_id == organization_id)
        .group_by(Job.status)
    )
    counts = {status.value: 0 for status in JobStatus}
    for status, count in (await session.execute(stmt)).all():
        counts[status] = int(count)
    return {"total": sum(counts.values()), **counts}


async def counts_by_type_and_status(session: AsyncSession) -> list[tuple[str, str, int]]:
    """Every organization's jobs counted together, for operators' metrics."""
    stmt = select(Job.type, Job.status, func.count()).group_by(Job.type, Job.status)
    return [(t, s, int(n)) for t, s, n in (await session.execute(stmt)).all()]
