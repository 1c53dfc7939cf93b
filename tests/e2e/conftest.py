"""Fixtures of the whole-process tests: a process keeper that kills what a test started, and
the app database a test runs on (both backends)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.conftest import drop_postgres_database, fresh_postgres_database
from tests.e2e.support import Processes


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
