"""The only door to the fine_tunings, fine_tuning_metrics and models tables."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from jobdeck.clock import utcnow
from jobdeck.domain import EventKind
from jobdeck.errors import NotFound
from jobdeck.store import jobs as job_store
from jobdeck.store import pages
from jobdeck.store.tables import FineTuning, FineTuningMetric, Job, Model


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def ensure_fine_tuning(
    session: AsyncSession, *, values: dict[str, Any], now: datetime
) -> None:
    """Create the record unless it exists: the API and the workflow's first step both call
    this, whichever runs first after a crash."""
    row = {"phase": "pending", "created_at": now, "updated_at": now, **values}
    await session.execute(_insert(session)(FineTuning).values(**row).on_conflict_do_nothing())


async def update_fine_tuning(
    session: AsyncSession, *, fine_tuning_id: str, values: dict[str, Any], now: datetime
) -> None:
    await session.execute(
        update(FineTuning)
        .where(FineTuning.id == fine_tuning_id)
        .values(**values, updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def get_fine_tuning(
    session: AsyncSession, *, organization_id: str, fine_tuning_id: str
) -> FineTuning:
    record = await session.get(FineTuning, fine_tuning_id, populate_existing=True)
    if record is None or record.organization_id != organization_id:
        raise NotFound(f"fine-tuning job {fine_tuning_id} not found")
    return record


async def list_fine_tunings(
    session: AsyncSession,
    *,
    organization_id: str,
    limit: int = pages.DEFAULT_PAGE,
    cursor: str | None = None,
) -> tuple[list[FineTuning], str | None]:
    """Newest first, keyset-paginated on (created_at, id)."""
    stmt = select(FineTuning).where(FineTuning.organization_id == organization_id)
    return await pages.keyset_page(session, stmt, FineTuning, limit=limit, cursor=cursor)


async def add_metrics(
    session: AsyncSession,
    *,
    fine_tuning_id: str,
    points: Sequence[tuple[int, int | None, dict[str, Any]]],
    now: datetime,
) -> None:
    """Store (step, total_steps, values) points; a step stored already is kept as it was."""
    if not points:
        return
    rows = [
        {
            "fine_tuning_id": fine_tuning_id,
            "step": step,
            "total_steps": total,
            "values": values,
            "created_at": now,
        }
        for step, total, values in points
    ]
    await session.execute(_insert(session)(FineTuningMetric).values(rows).on_conflict_do_nothing())


async def record_metrics(
    session: AsyncSession,
    *,
    fine_tuning_id: str,
    points: Sequence[tuple[int, int | None, dict[str, Any]]],
    now: datetime,
) -> None:
    """A fine-tune's new metric points: kept with its record (the loss curve) and pushed
    to the live feed as one `metric` event of its job."""
    if not points:
        return
    await add_metrics(session, fine_tuning_id=fine_tuning_id, points=points, now=now)
    await job_store.note_event(
        session,
        job_id=fine_tuning_id,
        kind=EventKind.METRIC,
        now=now,
        data={"metrics": [{"step": s, "totalSteps": t, **v} for s, t, v in points]},
    )


async def list_metrics(session: AsyncSession, *, fine_tuning_id: str) -> list[FineTuningMetric]:
    stmt = (
        select(FineTuningMetric)
        .where(FineTuningMetric.fine_tuning_id == fine_tuning_id)
        .order_by(FineTuningMetric.step)
    )
    return list((await session.execute(stmt)).scalars())


async def ensure_model(
    session: AsyncSession,
    *,
    organization_id: str,
    job_id: str,
    name: str,
    provider: str,
    base_model: str,
    dataset_id: str | None,
    details: dict[str, Any] | None,
    now: datetime,
) -> Model:
    """The model a job produced, created once however often its step runs."""
    await session.execute(
        _insert(session)(Model)
        .values(
            id=str(uuid.uuid4()),
            organization_id=organization_id,
            job_id=job_id,
            name=name,
            provider=provider,
            base_model=base_model,
            dataset_id=dataset_id,
            details=details,
            created_at=now,
        )
        .on_conflict_do_nothing()
    )
    model = (await session.execute(select(Model).where(Model.job_id == job_id))).scalar_one()
    return model


async def get_model(session: AsyncSession, *, organization_id: str, model_id: str) -> Model:
    model = await session.get(Model, model_id)
    if model is None or model.organization_id != organization_id:
        raise NotFound(f"model {model_id} not found")
    return model


async def note_published(
    session: AsyncSession, *, model_id: str, published: dict[str, Any]
) -> None:
    """Add where a model was published to its details (once per target name)."""
    model = await session.get(Model, model_id, populate_existing=True)
    if model is None:
        return
    details = dict(model.details or {})
    entries = [p for p in details.get("published", []) if p != published]
    details["published"] = [*entries, published]
    model.details = details


async def list_models(
    session: AsyncSession,
    *,
    organization_id: str,
    limit: int = pages.DEFAULT_PAGE,
    cursor: str | None = None,
) -> tuple[list[Model], str | None]:
    """Newest first, keyset-paginated on (created_at, id)."""
    stmt = select(Model).where(Model.organization_id == organization_id)
    return await pages.keyset_page(session, stmt, Model, limit=limit, cursor=cursor)


# A model-training job's data fields that are not training settings.
_TRAINING_INPUTS = ("datasetId", "validationDatasetId", "baseModel", "suffix")


async def ensure_record(
    session: AsyncSession, *, job: Job, provider: str, phase: str | None, now: datetime
) -> None:
    """The one writer of a fine-tuning record: made from its job's row (a `fine-tuning`
    job, or a `model-training` job, whose data are the training settings), by the API or
    by the job's first step, whichever comes first; `phase` moves it on."""
    data = job.data
    if "provider" in data:  # a fine-tuning job's data names its provider
        settings = data.get("hyperparameters") or {}
    else:
        settings = {k: v for k, v in data.items() if k not in _TRAINING_INPUTS}
    values = {
        "id": job.id,
        "organization_id": job.organization_id,
        "user_id": job.user_id,
        "name": job.name,
        "provider": provider,
        "base_model": data["baseModel"],
        "dataset_id": data["datasetId"],
        "validation_dataset_id": data.get("validationDatasetId"),
        "hyperparameters": settings,
        "suffix": data.get("suffix"),
    }
    await ensure_fine_tuning(session, values=values, now=now)
    if phase is not None:
        await update_fine_tuning(session, fine_tuning_id=job.id, values={"phase": phase}, now=now)


async def end_fine_tuning(
    session: AsyncSession,
    *,
    fine_tuning_id: str,
    phase: str,
    now: datetime,
    error: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
) -> None:
    """The ending of a fine-tune that did not succeed (phase failed or cancelled), as its
    job ended: when it ended (kept if a poll saw the provider end it first) and its error
    (the provider's own, when a poll stored it, else `error`). `values`: what else is
    known (e.g. the provider's status after a cancel)."""
    record = await session.get(FineTuning, fine_tuning_id, populate_existing=True)
    if record is None:
        return
    changes: dict[str, Any] = {**(values or {}), "phase": phase}
    changes["finished_at"] = record.finished_at or now
    if error is not None and not record.error:
        changes["error"] = error
    await update_fine_tuning(session, fine_tuning_id=fine_tuning_id, values=changes, now=now)


def updater(fine_tuning_id: str, values: dict[str, Any]) -> Callable[[AsyncSession], Any]:
    """A transaction's work that updates a fine-tuning record (for Database.transact)."""

    async def work(session: AsyncSession) -> None:
        await update_fine_tuning(
            session, fine_tuning_id=fine_tuning_id, values=values, now=utcnow()
        )

    return work


async def record_model(
    session: AsyncSession,
    *,
    fine_tuning_id: str,
    organization_id: str,
    name: str,
    provider: str,
    base_model: str,
    dataset_id: str | None,
    details: dict[str, Any] | None,
    now: datetime,
    values: dict[str, Any] | None = None,
) -> Model:
    """The one ending of a successful fine-tune: its model record (once, however often
    the step runs), and the fine-tuning record marked succeeded with it."""
    model = await ensure_model(
        session,
        organization_id=organization_id,
        job_id=fine_tuning_id,
        name=name,
        provider=provider,
        base_model=base_model,
        dataset_id=dataset_id,
        details=details,
        now=now,
    )
    await update_fine_tuning(
        session,
        fine_tuning_id=fine_tuning_id,
        now=now,
        values={
            "phase": "succeeded",
            "fine_tuned_model": name,
            "model_id": model.id,
            "finished_at": now,
            **(values or {}),
        },
    )
    return model
