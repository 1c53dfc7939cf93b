"""Fixtures for the documents library: the local embedder (loaded once), settings on a
temporary data folder, and a PostgreSQL with pgvector from the pgserver wheel."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobdeck.config import Settings
from jobdeck.documents.embedding import open_embedder
from jobdeck.documents.local_embedder import LocalEmbedder


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(environment="test", data_dir=tmp_path)


@pytest.fixture(scope="session")
def local_embedder(tmp_path_factory: pytest.TempPathFactory) -> LocalEmbedder:
    settings = Settings(environment="test", data_dir=tmp_path_factory.mktemp("models"))
    embedder = open_embedder(settings, "local", "all-MiniLM-L6-v2")
    assert isinstance(embedder, LocalEmbedder)
    return embedder


@pytest.fixture(scope="session")
def pgvector_dsn() -> Iterator[str]:
    """A PostgreSQL server with the pgvector extension, for this session only (the
    PostgreSQL the other tests use has no pgvector package)."""
    # Not under pytest's folders: those are private to root, and pgserver runs PostgreSQL
    # as its own user when started by root (as in CI), which must reach its data folder.
    folder = Path(tempfile.mkdtemp(prefix="jobdeck-pgvector-"))
    folder.chmod(0o755)
    with warnings.catch_warnings():
        # pgserver keeps its lock files in the user's runtime folder; with no
        # XDG_RUNTIME_DIR (CI, root) platformdirs warns and falls back to /tmp.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver

        server = pgserver.get_server(folder, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)
