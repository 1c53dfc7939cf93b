"""Real API servers (uvicorn on free ports) for the WebSocket feed tests."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import Stack


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """Serve an app whose lifespan already runs; yields its ws:// base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def ws_url(stack: Stack) -> AsyncIterator[str]:
    async with serving(stack.app_transport.app) as url:  # type: ignore[arg-type]
        yield url


def open_feed(url: str, key: str | None, **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return connect(url, additional_headers=headers, proxy=None, open_timeout=5, **kwargs)


async def receive(ws: ClientConnection, within: float = 10.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), within))
    return message


async def receive_until(
    ws: ClientConnection,
    done: Callable[[dict[str, Any]], bool],
    within: float = 20.0,
) -> list[dict[str, Any]]:
    """Messages up to and including the first one for which `done` holds."""
    messages: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        while True:
            message = await receive(ws, within)
            messages.append(message)
            if done(message):
                return messages


def ended(job_id: str) -> Callable[[dict[str, Any]], bool]:
    def check(message: dict[str, Any]) -> bool:
        return (
            message.get("type") == "event"
            and message["event"]["jobId"] == job_id
            and (message["event"]["kind"] in ("completed", "failed", "cancelled"))
        )

    return check
