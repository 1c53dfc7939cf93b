"""A provider's rate limiter in front of a fake provider (chat_server, embeddings_server):
requests and tokens a minute, enforced as OpenAI does, and reported as OpenAI reports them.

    limiter = RateLimited(ChatFake().app(), rpm=120, tpm=10_000, burst_s=2)
    async with serving(limiter) as url: ...
    limiter.accepted, limiter.refused        # what it let through, what it answered 429

Each limit is a bucket holding `burst_s` seconds of its rate (OpenAI's hold a minute's),
refilled continuously. A request counts one request, and tokens as OpenAI counts them
before answering: its text (messages, input, prompt) at four characters a token plus its
`max_tokens` (or `max_completion_tokens`, Ollama's `options.num_predict`). A request the
buckets cannot cover gets OpenAI's 429 (type requests or tokens, code
rate_limit_exceeded), with Retry-After when `retry_after` is set, and counts nothing.
With `headers`, every answer carries x-ratelimit-{limit,remaining,reset}-{requests,tokens}
(the reset as a Go duration: "1s", "6m0s", "20ms").
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def go_duration(seconds: float) -> str:
    """As OpenAI writes a reset: "20ms" under a second, else "6m0s", "1.5s"."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text


def _text_chars(value: Any) -> tuple[int, int]:
    if isinstance(value, str):
        return len(value), 0
    if isinstance(value, int) and not isinstance(value, bool):
        return 0, 1
    if isinstance(value, list):
        pairs = [_text_chars(item) for item in value]
        return sum(c for c, _ in pairs), sum(i for _, i in pairs)
    if isinstance(value, dict):
        a, b = _text_chars(value.get("content")), _text_chars(value.get("text"))
        return a[0] + b[0], a[1] + b[1]
    return 0, 0


def counted_tokens(body: bytes) -> int:
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return 0
    if not isinstance(data, dict):
        return 0
    chars = ids = 0
    for name in ("messages", "input", "prompt", "system"):
        c, i = _text_chars(data.get(name))
        chars, ids = chars + c, ids + i
    most = data.get("max_completion_tokens") or data.get("max_tokens")
    if most is None and isinstance(data.get("options"), dict):
        most = data["options"].get("num_predict")
    return math.ceil(chars / 4) + ids + (most if isinstance(most, int) else 0)


@dataclass
class _Limit:
    per_minute: float
    burst_s: float
    level: float = field(init=False)
    at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.level = self.capacity

    @property
    def capacity(self) -> float:
        return self.per_minute * self.burst_s / 60

    @property
    def per_s(self) -> float:
        return self.per_minute / 60

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.at) * self.per_s)
        self.at = now

    def headers(self, kind: str) -> list[tuple[bytes, bytes]]:
        reset = (self.capacity - self.level) / self.per_s
        return [
            (f"x-ratelimit-limit-{kind}".encode(), str(round(self.per_minute)).encode()),
            (f"x-ratelimit-remaining-{kind}".encode(), str(math.floor(self.level)).encode()),
            (f"x-ratelimit-reset-{kind}".encode(), go_duration(reset).encode()),
        ]


class RateLimited:
    """ASGI middleware: the limits in front of `app` (see the module's docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        rpm: float,
        tpm: float | None = None,
        burst_s: float = 60.0,
        headers: bool = True,
        retry_after: bool = True,
    ) -> None:
        self.app = app
        self.requests = _Limit(rpm, burst_s)
        self.tokens = _Limit(tpm, burst_s) if tpm else None
        self.send_headers = headers
        self.retry_after = retry_after
        self.accepted: list[float] = []  # time.monotonic() of each request let through
        self.accepted_tokens: list[int] = []
        self.refused = 0

    def _limits(self) -> list[tuple[str, _Limit]]:
        found = [("requests", self.requests)]
        return found + ([("tokens", self.tokens)] if self.tokens else [])

    def _headers(self) -> list[tuple[bytes, bytes]]:
        if not self.send_headers:
            return []
        return [h for kind, limit in self._limits() for h in limit.headers(kind)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        cost = counted_tokens(body)
        now = time.monotonic()
        short: list[tuple[str, float]] = []
        for kind, limit in self._limits():
            limit.refill(now)
            need = 1 if kind == "requests" else cost
            if limit.level < need:
                short.append((kind, (need - limit.level) / limit.per_s))
        if short:
            self.refused += 1
            await self._refuse(send, *max(short, key=lambda pair: pair[1]))
            return
        self.requests.level -= 1
        if self.tokens is not None:
            self.tokens.level -= cost
        self.accepted.append(now)
        self.accepted_tokens.append(cost)
        extra = self._headers()
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, replay, sending)

    async def _refuse(self, send: Send, kind: str, wait_s: float) -> None:
        body = json.dumps(
            {
                "error": {
                    "message": f"Rate limit reached for {kind}: please try again in "
                    f"{go_duration(wait_s)}.",
                    "type": kind,
                    "param": None,
                    "code": "rate_limit_exceeded",
                }
            }
        ).encode()
        headers = [(b"content-type", b"application/json"), *self._headers()]
        if self.retry_after:
            headers.append((b"retry-after-ms", str(math.ceil(wait_s * 1000)).encode()))
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def most_in_any(self, window_s: float) -> int:
        """The most requests let through in any `window_s` seconds."""
        times, most, start = self.accepted, 0, 0
        for end in range(len(times)):
            while times[end] - times[start] >= window_s:
                start += 1
            most = max(most, end - start + 1)
        return most
