"""The migrations build exactly the schema the tables declare, on SQLite and PostgreSQL,
and the store keeps its promises about time zones and terminal jobs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command

from jobdeck.domain import EventKind, JobSpec, JobStatus
from jobdeck.store import events as event_store
from jobdeck.store import jobs as job_store
from jobdeck.store.migrate import alembic_config
from tests.conftest import Stack, new_tenant


async def test_migrations_match_the_tables(database_url: str) -> None:
    # Raises if autogenerate would find any difference between models and database.
    await asyncio.to_thread(command.check, alembic_config(database_url))


async def test_migrating_twice_is_a_no_op(database_url: str) -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(database_url), "head")


async def test_a_terminal_job_never_changes_again(stack: Stack) -> None:
    account = await new_tenant(stack)
    now = datetime.now(UTC)
    spec = JobSpec(
        job_id=f"store-{now.timestamp()}",
        organization_id=account.organization_id,
        user_id=account.user_id,
        type="test-steps",
        name="x",
    )
    async with stack.db.write() as session:
        assert await job_store.insert_job(session, spec=spec, now=now) is not None
        assert await job_store.insert_job(session, spec=spec, now=now) is None
        done = await job_store.change_job(
            session,
            job_id=spec.job_id,
            kind=EventKind.COMPLETED,
            now=now,
            values={"status": JobStatus.COMPLETED.value, "finished_at": now},
        )
        assert done is not None
        again = await job_store.change_job(
            session,
            job_id=spec.job_id,
            kind=EventKind.FAILED,
            now=now,
            values={"status": JobStatus.FAILED.value},
        )
        assert again is None
    async with stack.db.read() as session:
        job = await job_store.get_job(
            session, organization_id=account.organization_id, job_id=spec.job_id
        )
        events = await event_store.list_events(
            session, organization_id=account.organization_id, job_id=spec.job_id
        )
    assert job.status == "completed"
    assert [e.kind for e in events] == ["created", "completed"]
    # Times come back aware and in UTC on both backends.
    assert job.finished_at is not None and job.finished_at.tzinfo is not None
    assert abs(job.finished_at - now) < timedelta(milliseconds=1)


async def test_naive_datetimes_are_refused(stack: Stack) -> None:
    account = await new_tenant(stack)
    spec = JobSpec(
        job_id="naive",
        organization_id=account.organization_id,
        user_id=account.user_id,
        type="test-steps",
        name="x",
    )
    with pytest.raises(Exception, match="naive datetime"):
        async with stack.db.write() as session:
            await job_store.insert_job(session, spec=spec, now=datetime.now())  # noqa: DTZ005
