"""Shared fixtures: the real Temporal dev server (once per session), a migrated database
per backend (SQLite file, and PostgreSQL when JOBDECK_TEST_POSTGRES_URL is set), an
in-process worker on a unique task queue, the API app, and a fresh organization per test
(tenancy keeps tests apart without truncating tables)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from jobdeck.admin import Created, create_account
from jobdeck.api.app import create_app
from jobdeck.config import Settings
from jobdeck.devserver import SINGLE_NODE_ARGS, TUNING_ARGS, temporal_binary
from jobdeck.registry import JobTypeRegistry, load_registry
from jobdeck.runtime import Runtime
from jobdeck.store.accounts import Role
from jobdeck.store.engine import Database
from jobdeck.store.migrate import upgrade_async
from jobdeck.temporal import SEARCH_ATTRIBUTES
from jobdeck.worker import build_workers

# Workers under test import job types' workflow modules afresh for each run, under Temporal's
# restrictions, so a non-deterministic call in one fails here (jobdeck.worker.workflow_runner).
os.environ.setdefault("JOBDECK_WORKFLOW_MODULES", "fresh")

POSTGRES_URL = os.environ.get("JOBDECK_TEST_POSTGRES_URL", "")
REQUIRE_POSTGRES = os.environ.get("JOBDECK_REQUIRE_POSTGRES") == "1"
TEST_JOB_TYPES = ["tests.jobtypes"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if POSTGRES_URL:
        return
    if REQUIRE_POSTGRES:
        raise pytest.UsageError("JOBDECK_REQUIRE_POSTGRES=1 but JOBDECK_TEST_POSTGRES_URL is unset")
    skip = pytest.mark.skip(reason="JOBDECK_TEST_POSTGRES_URL is not set")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=[*SINGLE_NODE_ARGS, *TUNING_ARGS],
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


async def fresh_postgres_database() -> tuple[str, str]:
    url = make_url(POSTGRES_URL)
    name = f"jobdeck_test_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database,
    )
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return url.set(database=name).render_as_string(hide_password=False), name


async def drop_postgres_database(name: str) -> None:
    url = make_url(POSTGRES_URL)
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database,
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "jobdeck.db"
        url = f"sqlite+aiosqlite:///{path}"
        await upgrade_async(url)
        yield url
        return
    url, name = await fresh_postgres_database()
    await upgrade_async(url)
    try:
        yield url
    finally:
        await drop_postgres_database(name)


# How often the tests' stacks write a job's progress row.
TEST_PROGRESS_INTERVAL_S = 0.05


def make_settings(database_url: str, client: Client, data_dir: Path, **extra: object) -> Settings:
    config = client.service_client.config
    return Settings(
        environment="test",
        data_dir=data_dir,
        database_url=database_url,
        temporal_address=config.target_host,
        temporal_namespace=client.namespace,
        task_queue=f"tq-{uuid.uuid4().hex[:8]}",
        job_type_modules=TEST_JOB_TYPES,
        progress_interval_s=TEST_PROGRESS_INTERVAL_S,
        ws_heartbeat_s=0.5,
        # Two test processes on 2 cores: a busy dev server can take over the default 3 s
        # to answer a request-time call (tests of a hanging Temporal set their own).
        temporal_call_timeout_s=10.0,
        **extra,  # type: ignore[arg-type]
    )


@dataclass
class Stack:
    """Workers and one API app against one database and the shared Temporal server."""

    settings: Settings
    runtime: Runtime
    registry: JobTypeRegistry
    app_transport: httpx.ASGITransport

    @property
    def db(self) -> Database:
        return self.runtime.db

    def client(self, key: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(
            transport=self.app_transport, base_url="http://jobdeck.test", headers=headers
        )


@asynccontextmanager
async def open_stack(
    base: Stack | None = None,
    *,
    settings: Settings | None = None,
    temporal: Client | None = None,
    db: Database | None = None,
    workers: bool = True,
    **changes: Any,
) -> AsyncIterator[Stack]:
    """An API app (its lifespan entered) and, unless `workers` is False, the workers of
    its settings: `base`'s settings with `changes`, on `base`'s database and Temporal
    unless others are given. The one way tests build a stack."""
    if base is not None:
        settings = settings or base.settings.model_copy(update=changes)
        temporal = temporal or base.runtime.temporal
        db = db or base.db
    assert settings is not None and temporal is not None and db is not None
    registry = base.registry if base is not None else load_registry(settings.job_type_modules)
    runtime = Runtime.of(settings, db, temporal)
    app = create_app(settings, temporal=temporal, registry=registry)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        stack.push_async_callback(runtime.aclose)
        for worker in build_workers(runtime, registry) if workers else []:
            await stack.enter_async_context(worker)
        yield Stack(settings, runtime, registry, httpx.ASGITransport(app=app))


@pytest.fixture(scope="session")
async def stack(
    database_url: str, temporal_client: Client, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    settings = make_settings(database_url, temporal_client, tmp_path_factory.mktemp("data"))
    db = Database.connect(database_url)
    try:
        async with open_stack(settings=settings, temporal=temporal_client, db=db) as built:
            yield built
    finally:
        await db.dispose()


@dataclass
class Tenant:
    account: Created
    api: httpx.AsyncClient


async def new_tenant(stack: Stack, role: Role = Role.ADMIN) -> Created:
    suffix = uuid.uuid4().hex[:8]
    return await create_account(
        stack.db,
        organization=f"org-{suffix}",
        email=f"user-{suffix}@example.com",
        name="Test User",
        role=role,
    )


@pytest.fixture
async def tenant(stack: Stack) -> AsyncIterator[Tenant]:
    account = await new_tenant(stack)
    async with stack.client(account.key) as api:
        yield Tenant(account, api)
