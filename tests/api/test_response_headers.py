"""API responses are never sniffed or cached (`nosniff`, `no-store`); the dashboard keeps
its own revalidated caching. The API process's access log leaves query strings out."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import connect

from jobdeck.cli import processes
from tests.conftest import Stack, Tenant

API_HEADERS = {"x-content-type-options": "nosniff", "cache-control": "no-store"}


def _api_headers(response: httpx.Response) -> dict[str, str | None]:
    return {name: response.headers.get(name) for name in API_HEADERS}


async def test_api_responses_are_not_sniffed_or_cached(stack: Stack, tenant: Tenant) -> None:
    created = await tenant.api.post(
        "/api/datasets", files={"file": ("qa.csv", b"q,a\n1,2\n")}, data={"name": "qa.csv"}
    )
    assert created.status_code == 201
    async with stack.client(None) as anonymous:
        responses = {
            "list": await tenant.api.get("/api/jobs", params={"limit": 1}),
            "created": created,
            "download": await tenant.api.get(f"/api/datasets/{created.json()['id']}/download"),
            "404": await tenant.api.get("/api/jobs/nope"),
            "422": await tenant.api.get("/api/jobs", params={"limit": 0}),
            "422 unstorable": await tenant.api.get("/api/jobs", params={"q": "\x00"}),
            "413": await tenant.api.post(
                "/api/jobs", content=b"x" * (stack.settings.max_request_bytes + 1)
            ),
            "401": await anonymous.get("/api/jobs"),
            "healthz": await anonymous.get("/healthz"),
            "openapi": await anonymous.get("/openapi.json"),
        }
    for what, response in responses.items():
        assert _api_headers(response) == API_HEADERS, what


async def test_the_dashboard_keeps_its_own_cache_headers(stack: Stack) -> None:
    async with stack.client(None) as browser:
        page = await browser.get("/")
        asset = await browser.get("/assets/app.css")
    for response in (page, asset):
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-cache"  # revalidated with the ETag
        assert response.headers["x-content-type-options"] == "nosniff"


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def _captured(*names: str) -> Iterator[list[str]]:
    handler = _Lines()
    for name in names:
        logging.getLogger(name).addHandler(handler)
    try:
        yield handler.lines
    finally:
        for name in names:
            logging.getLogger(name).removeHandler(handler)


@asynccontextmanager
async def _serve_as_cmd_api(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """The stack's app served with the uvicorn options `jobdeck api` uses."""
    options: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda _app, **kwargs: options.update(kwargs))
    assert processes.cmd_api(stack.settings, argparse.Namespace()) == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    options.update(host="127.0.0.1", port=port, lifespan="off")
    server = uvicorn.Server(uvicorn.Config(stack.app_transport.app, **options))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.02)
        assert server.started
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_the_access_log_leaves_query_strings_out(
    stack: Stack, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tenant.account.key
    auth = {"Authorization": f"Bearer {key}"}
    async with _serve_as_cmd_api(stack, monkeypatch) as host:
        with _captured("uvicorn.access", "uvicorn.error") as lines:
            async with httpx.AsyncClient(base_url=f"http://{host}", headers=auth) as api:
                response = await api.get("/api/jobs", params={"q": "secret-term", "limit": 3})
                assert response.status_code == 200
            async with connect(
                f"ws://{host}/ws/jobs?after=41&type=secret-type", additional_headers=auth
            ) as ws:
                await ws.recv()
    logged = "\n".join(lines)
    assert '"GET /api/jobs HTTP/1.1" 200' in logged, logged
    assert '"WebSocket /ws/jobs" [accepted]' in logged, logged
    assert "secret" not in logged and "after=" not in logged and "?" not in logged, logged
