"""Fixtures of the whole-process tests: a process keeper that kills what a test started."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

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
