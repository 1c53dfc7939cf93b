"""Headers of API responses: `X-Content-Type-Options: nosniff` and `Cache-Control:
no-store` on every JSON response and everything under /api/ (jobs, keys and datasets are
private and change; no shared or browser cache should keep them). The dashboard's pages
and assets set their own (revalidated, cacheable) headers and are left as they are; a
response that sets Cache-Control itself keeps it."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_PREFIX = "/api/"
DASHBOARD_ASSETS = "/assets/"


class ApiResponseHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(DASHBOARD_ASSETS):
            await self.app(scope, receive, send)
            return
        under_api = scope["path"].startswith(API_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if under_api or headers.get("content-type", "").startswith("application/json"):
                    headers.setdefault("X-Content-Type-Options", "nosniff")
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
