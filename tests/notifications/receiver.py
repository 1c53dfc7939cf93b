"""A local webhook receiver for the notification tests and bench: a real HTTP server that
verifies Standard Webhooks signatures with the reference library (`standardwebhooks`),
and can be told to fail: down (503) for a while, each message's first N tries, or a
Discord-style 429 with `retry_after`."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived
    verified: bool | None  # None: no secret to verify with

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def msg_id(self) -> str:
        return self.headers.get("webhook-id", "")


@dataclass
class Receiver:
    secrets: list[str] = field(default_factory=list)  # any of them verifies
    fail_first: int = 0  # answer 503 to each message's first N tries
    down_until: float = 0.0  # answer 503 to everything until this monotonic time
    rate_limit_first: int = 0  # answer 429 with retry_after to each message's first N
    retry_after_s: float = 1.0
    tries: Counter[str] = field(default_factory=Counter)  # by webhook-id (or body)
    received: list[Received] = field(default_factory=list)  # accepted ones only
    refused: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def verify(self, body: bytes, headers: dict[str, str]) -> bool | None:
        if not self.secrets:
            return None
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
                return True
            except WebhookVerificationError:
                continue
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        item = Received(headers, body, time.monotonic(), self.verify(body, headers))
        key = headers.get("webhook-id") or body.decode(errors="replace")
        self.tries[key] += 1
        response: Response
        if time.monotonic() < self.down_until or self.tries[key] <= self.fail_first:
            self.refused.append(item)
            response = Response("receiver down", status_code=503)
        elif self.tries[key] <= self.fail_first + self.rate_limit_first:
            self.refused.append(item)
            response = JSONResponse(
                {"message": "You are being rate limited.", "retry_after": self.retry_after_s},
                status_code=429,
            )
        elif item.verified is False:
            self.refused.append(item)
            response = Response("bad signature", status_code=401)
        else:
            self.received.append(item)
            self.arrived.set()
            response = Response(status_code=204)
        await response(scope, receive, send)

    async def wait_for(self, count: int, within: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + within
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(self.received)} of {count} notifications arrived in {within} s "
                    f"({len(self.refused)} refused)"
                )
            await asyncio.sleep(0.02)
        return self.received
