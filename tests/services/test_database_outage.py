"""A database outage is never a job's failure: steps wait it out (not counted as tries),
bookkeeping retries, and the jobs end as they would have; a row the database refuses
ends its workflow at once instead of leaving it running with no row.

The outage is the one operators cause: the database stops accepting connections and its
sessions are cut (ALTER DATABASE ... ALLOW_CONNECTIONS false), for 60 s, far past every
step's own retry budget (test-steps: 5 tries within ~3 s; a conversion: 3 within 3 s).
Every job type that runs without a model runs through it: test steps, a bulk operation, a
data conversion, a dataset validation and an OpenAI fine-tune (against the fake)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
import pytest
from pydantic import SecretStr
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
from tests.fakes.clock import FakeClock
from tests.fakes.openai_jobs import Timeline
from tests.fakes.openai_server import create_openai_fake
from tests.fakes.serving import Switchable
from tests.fine_tuning.conftest import (
    SENTINEL_KEY,
    chat_jsonl,
    start_fine_tune,
    upload_dataset,
)
from tests.helpers import create_job, events_of, wait_for_job
from tests.jobtypes import StepsWorkflow

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

OUTAGE_S = 60.0


async def _admin() -> asyncpg.Connection:
    url = make_url(POSTGRES_URL)
    return await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, database=url.database
    )


def _big_csv(rows: int = 300_000) -> bytes:
    """~15 MB of questions and answers: seconds of conversion, so the outage meets it."""
    lines = ["q,a"] + [f"what is {i} plus {i}?,it is {2 * i}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


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
async def own_database(
    stack: Stack, fake_servers: tuple[Switchable, str, Switchable, str]
) -> AsyncIterator[Stack]:
    """A stack on a PostgreSQL database of its own, which the test may take down, with the
    fake OpenAI (its jobs take ~25 s of real time)."""
    if not stack.db.url.startswith("postgresql"):
        pytest.skip("the outage is PostgreSQL's (SQLite has no server to lose)")
    switch, openai_url = fake_servers[0], fake_servers[1]
    switch.app = create_openai_fake(
        FakeClock(speed=1.0),
        api_key=SENTINEL_KEY,
        timeline=Timeline(validating_s=2, queued_s=2, step_s=1, finalize_s=1, total_steps=20),
    )
    url, name = await fresh_postgres_database()
    await upgrade_async(url)
    db = Database.connect(url)
    try:
        async with open_stack(
            stack,
            db=db,
            database_url=url,
            task_queue=f"outage-{uuid.uuid4().hex[:8]}",
            openai_api_key=SecretStr(SENTINEL_KEY),
            openai_base_url=f"{openai_url}/v1",
            fine_tuning_poll_interval_s=0.5,
            provider_timeout_s=2.0,
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
        chat = await upload_dataset(api, chat_jsonl(40))
        table = await upload_dataset(api, _big_csv(), "qa.csv")
        fine_tune = (await start_fine_tune(api, chat))["jobId"]
        steps = await create_job(api, name="steps", data={"steps": 80, "step_seconds": 0.25})
        bulk = await create_job(
            api,
            type="bulk-operation",
            name="bulk",
            data={"action": "cancel", "filter": {"ids": ["none"]}},
        )
        validation = (await api.post(f"/api/datasets/{chat}/validate", json={})).json()["id"]
        conversion = await create_job(
            api,
            type="data-conversion",
            name="convert",
            data={
                "datasetId": table,
                "outputFormat": "openai-chat",
                "mapping": {"user": "q", "assistant": "a"},
            },
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
        for job_id in (bulk["id"], conversion["id"], validation, fine_tune):
            ended = await wait_for_job(api, job_id, within=90)
            assert ended["status"] == "completed", ended
        record = (await api.get(f"/api/fine-tuning/jobs/{fine_tune}")).json()
        assert record["status"] == "succeeded" and record["modelId"], record


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
