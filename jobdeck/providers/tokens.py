"""How many tokens a provider request counts against a tokens-per-minute budget.

Counted before it is sent, as OpenAI's own limiter does: its text at about four
characters a token, plus the most it may answer (`max_tokens`, `max_completion_tokens`,
Ollama's `num_predict`). Embedding inputs given as token ids count one each. After the
answer, its reported usage (OpenAI's `usage.total_tokens`, Ollama's prompt_eval_count +
eval_count) may show it took more, which is charged then."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

CHARS_PER_TOKEN = 4
# Bodies larger than this are files (uploads of training data), not prompts: 0 tokens.
MAX_JSON_BYTES = 32 * 1024 * 1024


def _chars(value: Any) -> tuple[int, int]:
    """(characters of text, token ids) in a prompt, messages or input value."""
    if isinstance(value, str):
        return len(value), 0
    if isinstance(value, int) and not isinstance(value, bool):
        return 0, 1
    if isinstance(value, list):
        chars = ids = 0
        for item in value:
            c, i = _chars(item)
            chars, ids = chars + c, ids + i
        return chars, ids
    if isinstance(value, dict):  # a message ({role, content}) or a content part ({text})
        c1, i1 = _chars(value.get("content"))
        c2, i2 = _chars(value.get("text"))
        return c1 + c2, i1 + i2
    return 0, 0


@dataclass(frozen=True)
class Weighed:
    """What a request counts: its tokens, and the model it asks for (OpenAI's limits are
    per model), if its body names one."""

    tokens: int = 0
    model: str | None = None


def weigh(body: bytes, content_type: str) -> Weighed:
    """The tokens a request will count and its model, from its JSON body (nothing for
    any other body)."""
    if "json" not in content_type or not body or len(body) > MAX_JSON_BYTES:
        return Weighed()
    try:
        data = json.loads(body)
    except ValueError:
        return Weighed()
    if not isinstance(data, dict):
        return Weighed()
    chars = ids = 0
    for field in ("messages", "input", "prompt", "system"):
        c, i = _chars(data.get(field))
        chars, ids = chars + c, ids + i
    answer = data.get("max_completion_tokens") or data.get("max_tokens")
    options = data.get("options")
    if answer is None and isinstance(options, dict):
        answer = options.get("num_predict")
    most = answer if isinstance(answer, int) and answer > 0 else 0
    model = data.get("model")
    return Weighed(
        tokens=math.ceil(chars / CHARS_PER_TOKEN) + ids + most,
        model=model[:200] if isinstance(model, str) and model else None,
    )


def used(body: bytes) -> int | None:
    """The tokens an answer reports it used, if it does."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    usage = data.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int):
        return int(usage["total_tokens"])
    counts = [data.get("prompt_eval_count"), data.get("eval_count")]
    if any(isinstance(c, int) for c in counts):
        return sum(c for c in counts if isinstance(c, int))
    return None
