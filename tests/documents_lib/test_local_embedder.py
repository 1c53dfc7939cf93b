"""The local embedder: all-MiniLM-L6-v2 (int8 ONNX) offline, and a model folder of one's own."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from jobdeck.config import Settings
from jobdeck.documents.embedding import EmbeddingError, open_embedder
from jobdeck.documents.local_embedder import LocalEmbedder, resolve_model


async def test_384_dimensions_and_similar_sentences_are_closer(
    local_embedder: LocalEmbedder,
) -> None:
    assert (local_embedder.provider, local_embedder.model) == ("local", "all-MiniLM-L6-v2")
    assert local_embedder.dimensions == 384
    vectors = np.array(
        await local_embedder.embed(
            [
                "The cat sits on the mat.",
                "A kitten is sitting on a rug.",
                "Quarterly revenue grew by twelve percent.",
                "How do I reset my password?",
                "I forgot my login credentials, how can I change them?",
            ]
        )
    )
    assert vectors.shape == (5, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.3
    assert similarity[3, 4] > similarity[3, 2] + 0.3
    assert similarity[3, 4] > similarity[3, 0]


async def test_order_is_kept_across_batches(local_embedder: LocalEmbedder) -> None:
    texts = [("word " * (n % 7 + 1)) + str(n) for n in range(local_embedder.max_batch * 2 + 5)]
    together = await local_embedder.embed(texts)
    alone = [(await local_embedder.embed([text]))[0] for text in texts[::13]]
    assert np.allclose(np.array(together[::13]), np.array(alone), atol=1e-5)
    assert await local_embedder.embed([]) == []


def test_count_tokens_is_the_models_wordpiece_count(local_embedder: LocalEmbedder) -> None:
    assert local_embedder.count_tokens("Hello world") == 2
    assert local_embedder.count_tokens("tokenization") == 2  # token ##ization
    assert local_embedder.count_tokens("") == 0
    assert local_embedder.max_tokens == 254  # 256 less [CLS] and [SEP]
    long = "word " * 1000
    assert local_embedder.count_tokens(long) == 1000  # counting never truncates


async def test_a_model_folder_under_embedding_models_dir(
    settings: Settings, local_embedder: LocalEmbedder
) -> None:
    folder = (settings.embedding_models_dir or settings.data_dir / "models") / "my-minilm"
    (folder / "onnx").mkdir(parents=True)
    shutil.copy(local_embedder.spec.tokenizer, folder / "tokenizer.json")
    shutil.copy(local_embedder.spec.onnx, folder / "onnx" / "model.onnx")
    (folder / "sentence_bert_config.json").write_text('{"max_seq_length": 128}')
    embedder = open_embedder(settings, "local", "my-minilm")
    assert isinstance(embedder, LocalEmbedder)
    assert (embedder.model, embedder.max_tokens, embedder.dimensions) == ("my-minilm", 126, 384)
    ours, bundled = await embedder.embed(["same text"]), await local_embedder.embed(["same text"])
    assert np.allclose(ours, bundled, atol=1e-5)


def test_missing_or_bad_local_models_are_refused(settings: Settings) -> None:
    with pytest.raises(EmbeddingError, match="no local embedding model 'bge-small'") as caught:
        resolve_model(settings, "bge-small")
    assert caught.value.retryable is False
    with pytest.raises(EmbeddingError, match="not a valid local model name"):
        resolve_model(settings, "../etc")
    empty = settings.data_dir / "models" / "empty-model"
    empty.mkdir(parents=True)
    with pytest.raises(EmbeddingError, match="needs tokenizer.json and an ONNX export"):
        resolve_model(settings, "empty-model")
    with pytest.raises(EmbeddingError, match="unknown embedding provider 'cohere'"):
        open_embedder(settings, "cohere", "embed-v3")


def test_models_dir_setting(tmp_path: Path) -> None:
    settings = Settings(environment="test", data_dir=tmp_path, embedding_models_dir=tmp_path / "m")
    with pytest.raises(EmbeddingError, match=str(tmp_path / "m" / "other")):
        resolve_model(settings, "other")


def test_session_keeps_no_memory_pattern_per_input_shape(local_embedder: LocalEmbedder) -> None:
    # Batches are padded to their own longest text, so input shapes vary without end: a
    # memory pattern (and its arena block) kept per shape would grow the worker's memory
    # through a long ingest (issue 13). The arena itself stays: it settles.
    options = local_embedder._session.get_session_options()
    assert options.enable_mem_pattern is False
    assert options.enable_cpu_mem_arena is True
    from jobdeck.documents.local_embedder import session_options

    assert session_options(3).intra_op_num_threads == 3
    assert session_options().intra_op_num_threads == 0
