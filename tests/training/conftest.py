"""A tiny model built once per session for the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.tiny_model import build_tiny_model, chat_examples


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-llama", chat_examples(64))
