"""The local model is loaded once per process and model: every activity batch (and every
search) asks for it again and gets the loaded one; the same name under another models
folder is another model."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from jobdeck.config import Settings
from jobdeck.documents.embedding import open_embedder
from jobdeck.documents.local_embedder import LocalEmbedder

LOGGER = "jobdeck.documents.local_embedder"


def model_folder(settings: Settings, name: str, source: LocalEmbedder) -> Path:
    """A sentence-transformers folder `name` under the settings' models folder, a copy of
    the bundled model."""
    folder = (settings.embedding_models_dir or settings.data_dir / "models") / name
    (folder / "onnx").mkdir(parents=True)
    shutil.copy(source.spec.tokenizer, folder / "tokenizer.json")
    shutil.copy(source.spec.onnx, folder / "onnx" / "model.onnx")
    return folder


def loads(caplog: pytest.LogCaptureFixture, folder: Path) -> int:
    return sum(
        1
        for r in caplog.records
        if r.name == LOGGER
        and r.getMessage() == "embedding model loaded"
        and str(getattr(r, "onnx_path", "")).startswith(str(folder))
    )


def test_the_same_model_and_path_is_loaded_once(
    settings: Settings,
    local_embedder: LocalEmbedder,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    folder = model_folder(settings, "cached-minilm", local_embedder)
    first = open_embedder(settings, "local", "cached-minilm")
    # As each batch asks: its own settings object (a worker copies them), the same values.
    second = open_embedder(settings.model_copy(), "local", "cached-minilm")
    assert second is first
    assert loads(caplog, folder) == 1

    # The same name in another models folder is another model, loaded on its own.
    other = Settings(environment="test", data_dir=tmp_path / "elsewhere")
    elsewhere_folder = model_folder(other, "cached-minilm", local_embedder)
    elsewhere = open_embedder(other, "local", "cached-minilm")
    assert isinstance(elsewhere, LocalEmbedder) and isinstance(first, LocalEmbedder)
    assert elsewhere is not first
    assert elsewhere.spec.onnx == elsewhere_folder / "onnx" / "model.onnx"
    assert open_embedder(other, "local", "cached-minilm") is elsewhere
    assert (loads(caplog, folder), loads(caplog, elsewhere_folder)) == (1, 1)

    # Another thread count is another inference session.
    threaded = open_embedder(
        settings.model_copy(update={"embedding_threads": 1}), "local", "cached-minilm"
    )
    assert threaded is not first
    assert loads(caplog, folder) == 2
