"""The only door to the jobs table. Every change to a job row appends its event (see
store/events.py) in the same transaction, and a terminal job never changes again."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Row,
    Select,
    Table,
    bindparam,
    cast,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
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
    Executor,
    append_event,
    as_session,
    insert_event,
    order,
    order_events,
    order_events_core,
)
from jobdeck.store.tables import JOB_DURATION_MS, JOB_SEARCH_TEXTS, Job, JobDependency, JobEvent

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
    created_at, values = _new_row(spec, now, status)
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


def _new_row(spec: JobSpec, now: datetime, status: JobStatus) -> tuple[datetime, dict[str, Any]]:
    """A new job's creation time and its row's values."""
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
    return created_at, values


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


_PUBLIC_COLUMNS = tuple(_JOBS.c[column.key] for column in _PUBLIC_STATE)
_DEPENDENCIES: Table = JobDependency.__table__  # type: ignore[assignment]
# dependencies.HAS_DEPENDANTS on the tables' own columns, for change_job's `returning` on
# the hot paths (an ORM attribute would send the update through the ORM's execution).
JOB_HAS_DEPENDANTS = (
    exists()
    .where(_DEPENDENCIES.c.depends_on_id == _JOBS.c.id)
    .correlate(_JOBS)
    .label("has_dependants")
)
_JOB_STATE = select(*_PUBLIC_COLUMNS).where(_JOBS.c.id == bindparam("job_id"))
# insert_job_row's statement per dialect, built once: every column a bind parameter.
_NEW_ROW_COLUMNS = (
    "id organization_id user_id type name description status priority data attempts "
    "retry_of parent_id schedule_id idempotency_key depends_on created_at updated_at"
).split()
# Keyed by (dialect, whole): the worker needs the state its event carries, the API the
# whole row it answers with.
_INSERT_ROW = {
    (name, whole): dialect_insert(_JOBS)
    .values({column: bindparam(f"v_{column}") for column in _NEW_ROW_COLUMNS})
    .on_conflict_do_nothing()
    .returning(*(_JOBS.c if whole else _PUBLIC_COLUMNS))
    for name, dialect_insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
    for whole in (False, True)
}
_INSERT_DEPENDENCY = insert(_DEPENDENCIES).values(
    job_id=bindparam("v_job_id"), depends_on_id=bindparam("v_depends_on_id")
)


async def insert_job_row(
    conn: AsyncConnection,
    *,
    spec: JobSpec,
    now: datetime,
    status: JobStatus = JobStatus.PENDING,
    whole: bool = False,
) -> Row[Any] | None:
    """`insert_job` on a Core connection with prebuilt statements (the API's create, and
    the workflow's first step when it runs before the API wrote the row): the same row,
    dependencies, event and rollup change; returns the new job's state (`_PUBLIC_STATE`;
    with `whole`, every column: see `detached_job`) or None when a row with its id (or
    idempotency key) exists."""
    created_at, values = _new_row(spec, now, status)
    await order_events_core(conn)  # before the row's lock (see order_events)
    params = {f"v_{column}": value for column, value in values.items()}
    state = (await conn.execute(_INSERT_ROW[conn.dialect.name, whole], params)).first()
    if state is None:
        return None
    if spec.depends_on:
        rows = [
            {"v_job_id": spec.job_id, "v_depends_on_id": other}
            for other in dict.fromkeys(spec.depends_on)
        ]
        await conn.execute(_INSERT_DEPENDENCY, rows)
    await insert_event(conn, state=state, kind=EventKind.CREATED, now=now)
    if created_at < now - rollups.SEAL_LAG:  # written late: its chart buckets change
        async with as_session(conn) as session:
            await rollups.forget(session, organization_id=spec.organization_id, when=created_at)
    return state


def detached_job(row: Row[Any]) -> Job:
    """A `Job` made from a whole row that a Core statement returned, in no session: for
    callers that take a Job (the API's answer) without the ORM's load."""
    return Job(**row._mapping)


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
    await insert_event(conn, state=state, kind=EventKind.PROGRESS, now=now)
    return True


async def change_job(
    session: Executor,
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

    Two Core statements and no ORM unit of work: every step of every job passes here, on
    a session or (cheaper: the hot paths) a Core connection. Each shape of change (the
    columns set, the guard, what it returns) is built once (see _change_statement). An
    ORM `Job` this session loaded before is not refreshed (`find_job` reloads)."""
    values = values or {}
    guard = tuple(s.value for s in from_statuses) if from_statuses is not None else None
    stmt = _change_statement(tuple(values), guard, tuple(returning))
    params = {f"v_{column}": value for column, value in values.items()}
    params["job_id"], params["v_updated_at"] = job_id, now
    await order(session)  # before the row's lock (see order_events)
    state = (await session.execute(stmt, params)).first()
    if state is None:
        return None
    await insert_event(session, state=state, kind=kind, now=now, data=event_data)
    return state


# change_job's statements by (columns set, guard, ids of `returning`); the returning
# expressions are kept with them, so their ids stay theirs. A handful of shapes in all.
_CHANGES: dict[tuple[Any, ...], tuple[Any, tuple[Any, ...]]] = {}


def _change_statement(
    columns: tuple[str, ...], guard: tuple[str, ...] | None, returning: tuple[Any, ...]
) -> Any:
    key = (columns, guard, tuple(id(expression) for expression in returning))
    found = _CHANGES.get(key)
    if found is not None:
        return found[0]
    status = _JOBS.c.status
    stmt = (
        update(_JOBS)
        .where(
            _JOBS.c.id == bindparam("job_id"),
            status.not_in(_TERMINAL) if guard is None else status.in_(guard),
        )
        .values({column: bindparam(f"v_{column}") for column in (*columns, "updated_at")})
        .returning(*_PUBLIC_COLUMNS, *returning)
    )
    _CHANGES[key] = (stmt, returning)
    return stmt


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


async def job_state(session: Executor, *, job_id: str) -> Row[Any] | None:
    """The job's state as its events carry it (`_PUBLIC_STATE`), read by one prebuilt
    Core select: for the hot paths that only look (find_job loads the whole ORM object)."""
    return (await session.execute(_JOB_STATE, {"job_id": job_id})).first()


async def show_waiting(
    session: Executor,
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
