"""What a provider's response says about its rate limits: OpenAI's
`x-ratelimit-{limit,remaining,reset}-{requests,tokens}` headers (resets written as Go
durations: "1s", "6m0s", "20ms", "1h2m3.5s") and `Retry-After` / `retry-after-ms`."""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|h|m|s)")


def duration_s(text: str | None) -> float | None:
    """Seconds in a Go duration ("6m0s", "20ms", "1.5s") or a bare number of seconds;
    None when it is neither."""
    if not text:
        return None
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    total, at = 0.0, 0
    for match in _PART.finditer(text):
        if match.start() != at:
            return None
        total += float(match.group(1)) * _UNIT_S[match.group(2)]
        at = match.end()
    return total if at == len(text) and at > 0 else None


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds a 429 or 503 asks to wait: retry-after-ms, or Retry-After in seconds or
    as an HTTP date."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, parsed.timestamp() - time.time())


@dataclass(frozen=True)
class Window:
    """One of the provider's limits as a response reported it."""

    limit: int | None  # per minute (OpenAI's limits are per minute)
    remaining: int
    reset_s: float  # until the limit is whole again

    def next_in_s(self, needed: int = 1) -> float:
        """Seconds until `needed` more are there, at the refill rate the headers imply."""
        if self.remaining >= needed:
            return 0.0
        if self.limit and self.limit > self.remaining:
            per_s = (self.limit - self.remaining) / max(self.reset_s, 1e-3)
            return min(self.reset_s, (needed - self.remaining) / per_s)
        return self.reset_s


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def window(headers: Mapping[str, str], kind: str) -> Window | None:
    """The `requests` or `tokens` limit a response reports, if it reports one."""
    remaining = _int(headers.get(f"x-ratelimit-remaining-{kind}"))
    if remaining is None:
        return None
    reset = duration_s(headers.get(f"x-ratelimit-reset-{kind}"))
    return Window(
        limit=_int(headers.get(f"x-ratelimit-limit-{kind}")),
        remaining=max(0, remaining),
        reset_s=reset if reset is not None else 1.0,
    )
