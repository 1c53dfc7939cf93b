"""Token counts with OpenAI's own tokenizer (loaded offline by jobdeck.tiktokens)."""

from __future__ import annotations

from typing import Any

from jobdeck.tiktokens import encoding

__all__ = ["count", "count_messages", "encoding"]


def count(enc: Any, text: str) -> int:
    return len(enc.encode_ordinary(text))


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
