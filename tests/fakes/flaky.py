"""A provider that fails some calls, in front of a fake provider (chat_server, ...):

    flaky = Flaky(ChatFake().app(), every=3, doomed=("doomed",))
    async with serving(flaky) as url: ...

Every `every`-th request (counting those not doomed) gets the next of `answers` in turn
instead of reaching the fake: by default an OpenAI-style 500, then a 429 with
Retry-After: 1. A request whose body holds one of the `doomed` strings always gets a 500.
`calls` counts every request, `failed[status]` the answers it made up; the fake behind it
sees only the requests it let through.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, object]:
        kind = "rate_limit_exceeded" if self.status == 429 else "server_error"
        return {"error": {"message": f"made up by Flaky ({self.status})", "code": kind}}


SERVER_ERROR = Answer(500)
RATE_LIMITED = Answer(429, {"retry-after": "1"})


class Flaky:
    def __init__(
        self,
        app: ASGIApp,
        *,
        every: int = 3,
        answers: tuple[Answer, ...] = (SERVER_ERROR, RATE_LIMITED),
        doomed: tuple[str, ...] = (),
    ) -> None:
        if every < 1 or not answers:
            raise ValueError("Flaky needs every >= 1 and at least one answer")
        self.app = app
        self.every = every
        self.answers = answers
        self.doomed = tuple(d.encode() for d in doomed)
        self.calls = 0
        self.counted = 0  # requests not doomed: every `every`-th of them fails
        self.failed: Counter[int] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        self.calls += 1
        answer: Answer | None = None
        if any(d in body for d in self.doomed):
            answer = SERVER_ERROR
        else:
            self.counted += 1
            if self.counted % self.every == 0:
                answer = self.answers[(self.counted // self.every - 1) % len(self.answers)]
        if answer is not None:
            self.failed[answer.status] += 1
            response = JSONResponse(answer.body(), answer.status, headers=answer.headers)
            await response(scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # a disconnect, when it comes
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
