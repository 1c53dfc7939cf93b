"""The only door to the datasets table. Another organization's dataset is reported
exactly like a missing one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jobdeck.errors import NotFound
from jobdeck.store import pages
from jobdeck.store.tables import Dataset

MAX_PAGE = pages.MAX_PAGE  # the routes' bound on ?limit=


async def insert_dataset(
    session: AsyncSession,
    *,
    dataset_id: str,
    organization_id: str,
    user_id: str,
    name: str,
    format: str,
    size_bytes: int,
    sha256: str,
    storage_key: str,
    now: datetime,
    row_count: int | None = None,
    source_dataset_id: str | None = None,
    source_collection_id: str | None = None,
    job_id: str | None = None,
    details: dict[str, Any] | None = None,
    validation: dict[str, Any] | None = None,
) -> Dataset:
    """Insert a dataset, or return the one with its id: a job re-registering its output
    after a retry gets the row it wrote the first time."""
    existing = await session.get(Dataset, dataset_id)
    if existing is not None:
        return existing
    dataset = Dataset(
        id=dataset_id,
        organization_id=organization_id,
        user_id=user_id,
        name=name,
        format=format,
        size_bytes=size_bytes,
        row_count=row_count,
        sha256=sha256,
        storage_key=storage_key,
        source_dataset_id=source_dataset_id,
        source_collection_id=source_collection_id,
        job_id=job_id,
        details=details,
        validation=validation,
        created_at=now,
    )
    session.add(dataset)
    await session.flush()
    return dataset


async def get_dataset(session: AsyncSession, *, organization_id: str, dataset_id: str) -> Dataset:
    dataset = await session.get(Dataset, dataset_id, populate_existing=True)
    if dataset is None or dataset.organization_id != organization_id:
        raise NotFound(f"dataset {dataset_id} not found")
    return dataset


async def update_dataset(
    session: AsyncSession, *, organization_id: str, dataset_id: str, values: dict[str, Any]
) -> Dataset:
    """Change a dataset's counted or derived fields (row count, details, validation)."""
    allowed = {"row_count", "details", "validation"}
    if unknown := set(values) - allowed:
        raise ValueError(f"dataset fields {sorted(unknown)} cannot change")
    await session.execute(
        update(Dataset)
        .where(Dataset.id == dataset_id, Dataset.organization_id == organization_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return await get_dataset(session, organization_id=organization_id, dataset_id=dataset_id)


async def delete_dataset(
    session: AsyncSession, *, organization_id: str, dataset_id: str
) -> Dataset:
    """Delete the row and return it; the caller removes the stored file afterwards."""
    dataset = await get_dataset(session, organization_id=organization_id, dataset_id=dataset_id)
    await session.execute(delete(Dataset).where(Dataset.id == dataset_id))
    return dataset


async def list_datasets(
    session: AsyncSession,
    *,
    organization_id: str,
    limit: int = 50,
    cursor: str | None = None,
    format: str | None = None,
    q: str | None = None,
    source_dataset_id: str | None = None,
) -> tuple[list[Dataset], str | None]:
    """Newest first, keyset-paginated on (created_at, id)."""
    stmt = select(Dataset).where(Dataset.organization_id == organization_id)
    if format:
        stmt = stmt.where(Dataset.format == format)
    if q:
        stmt = stmt.where(func.lower(Dataset.name).contains(q.lower(), autoescape=True))
    if source_dataset_id:
        stmt = stmt.where(Dataset.source_dataset_id == source_dataset_id)
    return await pages.keyset_page(session, stmt, Dataset, limit=limit, cursor=cursor)
