"""The large pipeline step outputs kept in file storage, as rows the storage quota sums:
one per run holding an output (the run that wrote it, and each rerun that took the step
over from it). An output's bytes count once per key, and its file may go when the last
run holding it is deleted (by the job history retention, store/quotas.py)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import ScalarSelect

from jobdeck.store.tables import PipelineBlob


async def hold(
    session: AsyncSession,
    *,
    job_id: str,
    key: str,
    organization_id: str,
    size_bytes: int,
    now: datetime,
) -> None:
    """Record that the run `job_id` wrote `size_bytes` under `key` (written again, by a
    retried step, the row takes the new size)."""
    await session.execute(
        delete(PipelineBlob).where(PipelineBlob.job_id == job_id, PipelineBlob.key == key)
    )
    session.add(
        PipelineBlob(
            job_id=job_id,
            key=key,
            organization_id=organization_id,
            size_bytes=size_bytes,
            created_at=now,
        )
    )
    await session.flush()


async def share(
    session: AsyncSession, *, from_job_id: str, to_job_id: str, keys: Collection[str], now: datetime
) -> None:
    """The rerun `to_job_id` holds the outputs of `from_job_id` it took over, so that they
    stay while either run does. Outputs the earlier run holds no row for (stored before
    they were counted) stay uncounted."""
    if not keys:
        return
    rows = (
        await session.execute(
            select(PipelineBlob).where(
                PipelineBlob.job_id == from_job_id, PipelineBlob.key.in_(keys)
            )
        )
    ).scalars()
    for row in list(rows):
        await hold(
            session,
            job_id=to_job_id,
            key=row.key,
            organization_id=row.organization_id,
            size_bytes=row.size_bytes,
            now=now,
        )


def bytes_used(organization_id: str) -> ScalarSelect[Any]:
    """A scalar subquery: the bytes of the organization's stored outputs, each once."""
    per_key = (
        select(func.max(PipelineBlob.size_bytes).label("size_bytes"))
        .where(PipelineBlob.organization_id == organization_id)
        .group_by(PipelineBlob.key)
        .subquery()
    )
    return select(func.coalesce(func.sum(per_key.c.size_bytes), 0)).scalar_subquery()


async def release(session: AsyncSession, *, job_ids: Sequence[str]) -> list[str]:
    """Drop the rows of these runs; returns the keys no run holds any more (their files
    may be deleted once this transaction commits)."""
    if not job_ids:
        return []
    held = (
        await session.execute(
            select(PipelineBlob.organization_id, PipelineBlob.key)
            .where(PipelineBlob.job_id.in_(job_ids))
            .distinct()
        )
    ).all()
    if not held:
        return []
    await session.execute(
        delete(PipelineBlob)
        .where(PipelineBlob.job_id.in_(job_ids))
        .execution_options(synchronize_session=False)
    )
    keys = sorted({key for _, key in held})
    organizations = sorted({org for org, _ in held})
    still = set(
        (
            await session.execute(
                select(PipelineBlob.key)
                .where(PipelineBlob.organization_id.in_(organizations), PipelineBlob.key.in_(keys))
                .distinct()
            )
        ).scalars()
    )
    return [key for key in keys if key not in still]
