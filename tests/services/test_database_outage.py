"""A database outage is never a job's failure: steps wait it out (not counted as tries),
bookkeeping retries, and the jobs end as they would have; a row the database refuses
ends its workflow at once instead of leaving it running with no row.

The outage is the one operators cause: the database stops accepting connections and its
sessions are cut (ALTER DATABASE ... ALLOW_CONNECTIONS false), here for 8 s, longer than
every step's own retry budget (test-steps: 5 tries within ~3 s)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from jobdeck.admin import create_account
from jobdeck.domain import JobSpec
from jobdeck.store.accounts import Role
from jobdeck.store.engine import Database
from jobdeck.store.migrate import upgrade_async
from tests.conftest import (
    POSTGRES_URL,
    Stack,
    drop_postgres_database,
    fresh_postgres_database,
    open_stack,
)
from tests.helpers import create_job, events_of, wait_for_job
from tests.jobtypes import StepsWorkflow

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

OUTAGE_S = 8.0


async def _admin() -> asyncpg.Connection:
    url = make_url(POSTGRES_URL)
    return await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, database=url.database
    )


@asynccontextmanager
async def outage(name: str) -> AsyncIterator[None]:
    admin = await _admin()
    try:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        yield
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        await admin.close()


@pytest.fixture
async def own_database(stack: Stack) -> AsyncIterator[Stack]:
    """A stack on a PostgreSQL database of its own, which the test may take down."""
    if not stack.db.url.startswith("postgresql"):
        pytest.skip("the outage is PostgreSQL's (SQLite has no server to lose)")
    url, name = await fresh_postgres_database()
    await upgrade_async(url)
    db = Database.connect(url)
    try:
        async with open_stack(
            stack, db=db, database_url=url, task_queue=f"outage-{uuid.uuid4().hex[:8]}"
        ) as own:
            own.db_name = name  # type: ignore[attr-defined]
            yield own
    finally:
        await db.dispose()
        await drop_postgres_database(name)


async def test_jobs_outlive_a_database_outage(own_database: Stack) -> None:
    stack = own_database
    account = await create_account(
        stack.db, organization="outage", email="o@example.com", name="O", role=Role.ADMIN
    )
    async with stack.client(account.key) as api:
        steps = await create_job(api, name="steps", data={"steps": 40, "step_seconds": 0.25})
        bulk = await create_job(
            api,
            type="bulk-operation",
            name="bulk",
            data={"action": "cancel", "filter": {"ids": ["none"]}},
        )
        await wait_for_job(api, steps["id"], lambda j: j["status"] == "active")
        async with outage(stack.db_name):  # type: ignore[attr-defined]
            began = asyncio.get_running_loop().time()
            response = await api.get("/api/jobs")
            assert response.status_code == 503, response.text
            assert response.json()["detail"].startswith("the database is unreachable")
            assert response.headers["retry-after"] == "5"
            await asyncio.sleep(OUTAGE_S - (asyncio.get_running_loop().time() - began))
        done = await wait_for_job(api, steps["id"], within=60)
        assert done["status"] == "completed", done
        assert done["attempts"] == 1, done  # the outage cost it no try
        assert "attempt_failed" not in [e["kind"] for e in await events_of(api, steps["id"])]
        assert (await wait_for_job(api, bulk["id"], within=60))["status"] == "completed"


async def test_a_row_the_database_refuses_ends_its_workflow(own_database: Stack) -> None:
    """PostgreSQL cannot store NUL in text: the workflow's first step cannot write the row,
    so the workflow fails with the reason instead of retrying for ever."""
    stack = own_database
    spec = JobSpec(
        job_id=str(uuid.uuid4()),
        organization_id=str(uuid.uuid4()),
        user_id=str(uuid.uuid4()),
        type="test-steps",
        name="a name with a \x00 inside",
        data={"steps": 1},
        created_at=datetime.now(UTC).isoformat(),
    )
    handle = await stack.runtime.temporal.start_workflow(
        StepsWorkflow.run, spec, id=spec.job_id, task_queue=stack.settings.task_queue
    )
    with pytest.raises(Exception) as failed:
        await asyncio.wait_for(handle.result(), timeout=30)
    assert "could not be recorded" in str(failed.value.__cause__ or failed.value)
