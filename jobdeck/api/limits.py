"""Refuse request bodies over the configured size before they are read into memory."""

from __future__ import annotations

import json
import re
from collections.abc import Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Routes that stream their body to storage and enforce their own, larger limit (uploads:
# jobdeck/api/uploads.py). Exact paths, so no other route escapes the limit.
SELF_LIMITED_PATHS = frozenset({"/api/datasets"})
# And collections' document uploads (jobdeck/api/multi_uploads.py): one segment, the id.
SELF_LIMITED_PATTERN = re.compile(r"/api/collections/[^/]+/(?:documents|uploads)")


class _TooLarge(BaseException):
    """A BaseException so that body parsers, which turn any Exception into a 400, let it
    through to this middleware."""


class BodySizeLimit:
    def __init__(
        self, app: ASGIApp, max_bytes: int, exempt_paths: Collection[str] = SELF_LIMITED_PATHS
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt_paths = exempt_paths

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"detail": f"request body is larger than the limit of {self.max_bytes} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] in self.exempt_paths
            or (scope["method"] == "POST" and SELF_LIMITED_PATTERN.fullmatch(scope["path"]))
        ):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(send)
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)
