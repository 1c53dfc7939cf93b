"""Serve a fake on a free local port with uvicorn, inside the test's event loop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import uvicorn
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def endless_answer(
    request: Request, hung_up: Callable[[], None], chunk: bytes = b"x" * 65536
) -> StreamingResponse:
    """A 200 whose body never ends, until the client hangs up; then `hung_up()` is called
    (whether the loop saw the disconnect or Starlette cancelled the stream on it)."""

    async def forever() -> AsyncIterator[bytes]:
        try:
            while not await request.is_disconnected():
                yield chunk
        finally:
            hung_up()

    return StreamingResponse(forever(), media_type="text/plain")


@asynccontextmanager
async def serving(app: ASGIApp, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Run `app` until the block ends; yields its base URL, `http://127.0.0.1:PORT`."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        log_level="warning",
        ws="none",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if not server.started:
        server.should_exit = True
        await task
        raise RuntimeError(f"uvicorn did not start on {host}:{port}")
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task


class Switchable:
    """An ASGI app whose target is swapped at will: one server for a whole test session,
    a fresh fake (fresh state) per test, without paying uvicorn's start and stop each time."""

    def __init__(self, app: ASGIApp | None = None) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            raise RuntimeError("Switchable has no app to serve yet")
        await self.app(scope, receive, send)
