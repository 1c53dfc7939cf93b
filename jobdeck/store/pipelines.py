"""The only door to the pipelines, pipeline_versions and pipeline_run_steps tables."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from jobdeck.errors import Conflict, NotFound
from jobdeck.store import pages
from jobdeck.store.events import Executor
from jobdeck.store.tables import Job, Pipeline, PipelineRunStep, PipelineVersion


async def find_by_name(
    session: AsyncSession, *, organization_id: str, name: str
) -> Pipeline | None:
    stmt = select(Pipeline).where(
        Pipeline.organization_id == organization_id, Pipeline.name == name
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def create_pipeline(
    session: AsyncSession,
    *,
    organization_id: str,
    user_id: str,
    name: str,
    description: str | None,
    spec: dict[str, Any],
    now: datetime,
) -> tuple[Pipeline, PipelineVersion]:
    existing = await find_by_name(session, organization_id=organization_id, name=name)
    if existing is not None:
        state = " (archived)" if existing.archived_at else ""
        raise Conflict(
            f"a pipeline named {name!r} exists{state}, id {existing.id}; save a new version "
            f"with PUT /api/pipelines/{existing.id}"
        )
    pipeline = Pipeline(
        id=str(uuid.uuid4()),
        organization_id=organization_id,
        user_id=user_id,
        name=name,
        description=description,
        latest_version=1,
        created_at=now,
        updated_at=now,
    )
    version = PipelineVersion(
        pipeline_id=pipeline.id, version=1, spec=spec, user_id=user_id, created_at=now
    )
    session.add(pipeline)
    await session.flush()
    session.add(version)
    await session.flush()
    return pipeline, version


async def add_version(
    session: AsyncSession,
    *,
    pipeline_id: str,
    user_id: str,
    spec: dict[str, Any],
    description: str | None,
    now: datetime,
) -> tuple[Pipeline, PipelineVersion]:
    """A new version (the next number, taken atomically); saving restores an archived
    pipeline."""
    values: dict[str, Any] = {
        "latest_version": Pipeline.latest_version + 1,
        "updated_at": now,
        "archived_at": None,
    }
    if description is not None:
        values["description"] = description
    stmt = (
        update(Pipeline)
        .where(Pipeline.id == pipeline_id)
        .values(**values)
        .returning(Pipeline)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    pipeline = (await session.execute(stmt)).scalar_one()
    version = PipelineVersion(
        pipeline_id=pipeline_id,
        version=pipeline.latest_version,
        spec=spec,
        user_id=user_id,
        created_at=now,
    )
    session.add(version)
    await session.flush()
    return pipeline, version


async def get_pipeline(
    session: AsyncSession, *, organization_id: str, pipeline_id: str
) -> Pipeline:
    pipeline = await session.get(Pipeline, pipeline_id, populate_existing=True)
    if pipeline is None or pipeline.organization_id != organization_id:
        raise NotFound(f"pipeline {pipeline_id} not found")
    return pipeline


async def get_version(session: AsyncSession, *, pipeline_id: str, version: int) -> PipelineVersion:
    found = await session.get(PipelineVersion, (pipeline_id, version))
    if found is None:
        raise NotFound(f"pipeline {pipeline_id} has no version {version}")
    return found


async def list_versions(session: AsyncSession, *, pipeline_id: str) -> list[PipelineVersion]:
    stmt = (
        select(PipelineVersion)
        .where(PipelineVersion.pipeline_id == pipeline_id)
        .order_by(PipelineVersion.version.desc())
    )
    return list((await session.execute(stmt)).scalars())


async def run_chain(session: AsyncSession, *, job_id: str, limit: int) -> list[tuple[str, str]]:
    """The job and its ancestors through parent_id, nearest first, as (id, type); at most
    `limit` of them (a chain longer than that is cut there)."""
    chain: list[tuple[str, str]] = []
    current: str | None = job_id
    while current is not None and len(chain) < limit:
        row = (
            await session.execute(select(Job.type, Job.parent_id).where(Job.id == current))
        ).one_or_none()
        if row is None:
            break
        chain.append((current, row.type))
        current = row.parent_id
    return chain


async def list_pipelines(
    session: AsyncSession,
    *,
    organization_id: str,
    archived: bool = False,
    name: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Pipeline], str | None]:
    stmt = select(Pipeline).where(Pipeline.organization_id == organization_id)
    if not archived:
        stmt = stmt.where(Pipeline.archived_at.is_(None))
    if name is not None:
        stmt = stmt.where(Pipeline.name == name)
    return await pages.keyset_page(session, stmt, Pipeline, limit=limit, cursor=cursor)


async def archive(session: AsyncSession, *, pipeline: Pipeline, now: datetime) -> Pipeline:
    if pipeline.archived_at is None:
        pipeline.archived_at = now
        pipeline.updated_at = now
        await session.flush()
    return pipeline


# Run steps.

STEP_COLUMNS = (
    "kind",
    "seq",
    "status",
    "attempts",
    "output",
    "error",
    "reason",
    "child_job_id",
    "details",
    "started_at",
    "finished_at",
)


async def save_steps(
    session: Executor, *, job_id: str, changes: Sequence[dict[str, Any]], now: datetime
) -> None:
    """Insert or update step rows; each change names `step_id` and the columns it sets."""
    bind = session.get_bind() if isinstance(session, AsyncSession) else session
    dialect = bind.dialect.name
    for change in changes:
        columns = tuple(k for k in change if k in STEP_COLUMNS)
        params = {f"v_{k}": change[k] for k in columns}
        params.update(job_id=job_id, step_id=change["step_id"], updated_at=now)
        await session.execute(_save_statement(dialect, columns), params)


# save_steps' upserts by (dialect, columns set), built once: every step of every run
# passes here, and building one per change cost more CPU than running it.
_SAVES: dict[tuple[str, tuple[str, ...]], Any] = {}
_STEP_DEFAULTS = {"seq": 0, "kind": "", "status": "pending", "attempts": 0}


def _save_statement(dialect: str, columns: tuple[str, ...]) -> Any:
    found = _SAVES.get((dialect, columns))
    if found is not None:
        return found
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    row: dict[str, Any] = {
        "job_id": bindparam("job_id"),
        "step_id": bindparam("step_id"),
        **_STEP_DEFAULTS,
        **{column: bindparam(f"v_{column}") for column in columns},
        "updated_at": bindparam("updated_at"),
    }
    stmt = insert(cast(Table, PipelineRunStep.__table__)).values(row)
    stmt = stmt.on_conflict_do_update(
        index_elements=["job_id", "step_id"],
        set_={c: stmt.excluded[c] for c in (*columns, "updated_at")},
    )
    _SAVES[(dialect, columns)] = stmt
    return stmt


async def list_steps(session: AsyncSession, *, job_id: str) -> list[PipelineRunStep]:
    stmt = (
        select(PipelineRunStep)
        .where(PipelineRunStep.job_id == job_id)
        .order_by(PipelineRunStep.seq, PipelineRunStep.step_id)
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(stmt)).scalars())
