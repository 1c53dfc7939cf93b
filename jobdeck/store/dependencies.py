"""The only door to job_dependencies: which jobs a job waits for, and which jobs wait for
it (see services/jobs.py for the checks at creation, activities/dependencies.py for the
wait)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, exists, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from jobdeck.domain import TERMINAL_STATUSES, JobStatus
from jobdeck.store.tables import Job, JobDependency

# The most jobs one job may wait for: each is one row and one status to read per check.
MAX_DEPENDENCIES = 100
_TERMINAL = [s.value for s in TERMINAL_STATUSES]

# True for a job that others wait for: read in the RETURNING of a job's ending update, so
# that the ending of a job nobody waits for (nearly all) costs no statement more.
HAS_DEPENDANTS = (
    exists().where(JobDependency.depends_on_id == Job.id).correlate(Job).label("has_dependants")
)


def waits_for_others() -> Any:
    """A condition on a Job row: some job it depends on has not ended yet (a wait on
    purpose, which the stuck-job watchdog leaves alone)."""
    other = aliased(Job)
    return (
        select(JobDependency.job_id)
        .join(other, other.id == JobDependency.depends_on_id)
        .where(JobDependency.job_id == Job.id, other.status.not_in(_TERMINAL))
        .correlate(Job)
        .exists()
    )


async def add(session: AsyncSession, *, job_id: str, depends_on: Sequence[str]) -> None:
    """Record the jobs `job_id` waits for, in the transaction that inserts its row."""
    await session.execute(
        insert(JobDependency),
        [{"job_id": job_id, "depends_on_id": other} for other in dict.fromkeys(depends_on)],
    )


async def states(
    session: AsyncSession, *, job_ids: Sequence[str], organization_id: str | None = None
) -> dict[str, Row[Any]]:
    """id, name, status and retry_of of these jobs (of one organization, if given), by id;
    a missing one is left out."""
    stmt = select(Job.id, Job.name, Job.status, Job.retry_of).where(Job.id.in_(list(job_ids)))
    if organization_id is not None:
        stmt = stmt.where(Job.organization_id == organization_id)
    rows: list[Any] = list((await session.execute(stmt)).all())
    return {row.id: row for row in rows}


async def waiting_dependants(session: AsyncSession, *, job_id: str) -> list[str]:
    """The pending jobs that wait for `job_id` (those that have started waited already)."""
    stmt = (
        select(JobDependency.job_id)
        .join(Job, Job.id == JobDependency.job_id)
        .where(JobDependency.depends_on_id == job_id, Job.status == JobStatus.PENDING.value)
    )
    return list((await session.execute(stmt)).scalars())


async def latest_retry(session: AsyncSession, *, organization_id: str, job_id: str) -> str | None:
    """The newest job of the retry chain that starts at `job_id` (None: never retried)."""
    newest: str | None = None
    seen = {job_id}
    current = job_id
    while True:
        found = (
            await session.execute(
                select(Job.id)
                .where(Job.retry_of == current, Job.organization_id == organization_id)
                .order_by(Job.created_at.desc(), Job.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        if found is None or found in seen:
            return newest
        seen.add(found)
        newest = current = found
