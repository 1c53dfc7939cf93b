"""Fixtures of the whole-process tests: a process keeper that kills what a test started, and
the app database a test runs on (both backends)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from jobdeck.config import Settings
from jobdeck.store.migrate import upgrade_async
from tests.conftest import drop_postgres_database, fresh_postgres_database
from tests.e2e.support import Processes, e2e_settings


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    keeper = Processes(log_dir=tmp_path / "logs")
    try:
        yield keeper
    finally:
        report = keeper.cleanup()
        # Shown by pytest only when the test failed: what each process said.
        sys.stderr.write(f"\n{report}\n")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def e2e_database(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    """None: the e2e settings' own SQLite file; else a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    url, name = await fresh_postgres_database()
    try:
        yield url
    finally:
        await drop_postgres_database(name)


@pytest.fixture
async def e2e_run(
    temporal_env: WorkflowEnvironment, procs: Processes, tmp_path: Path, e2e_database: str | None
) -> AsyncIterator[Settings]:
    """Settings of a whole-process test on `e2e_database`, migrated. At the end it kills
    every process the test started before that database is dropped (a fixture ends
    before the fixtures it uses)."""
    address = temporal_env.client.service_client.config.target_host
    settings = e2e_settings(tmp_path / "data", address, database_url=e2e_database)
    await upgrade_async(settings.database_url)
    try:
        yield settings
    finally:
        for proc in procs.procs:
            procs.kill(proc)
