"""`jobdeck jobs watch`: progress bars from the feed, resuming after the API goes away."""

from __future__ import annotations

import asyncio
import io

import pytest
import uvicorn

from jobdeck.watch import WatchError, render, watch
from tests.conftest import Stack, Tenant
from tests.feed.conftest import free_port
from tests.helpers import create_job, wait_for_job


def test_a_bar_shows_percent_counts_rate_and_eta() -> None:
    line = render(
        {
            "id": "j",
            "name": "Export",
            "status": "active",
            "progress": {
                "percent": 50.0,
                "current": 5,
                "total": 10,
                "unit": "rows",
                "rate": 2.5,
                "eta": 2,
            },
        }
    )
    assert line.startswith("Export")
    assert "[############............]   50.0%  5/10 rows  2.5/s  eta 2s  active" in line


async def _serve(app: object, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,  # type: ignore[arg-type]
            lifespan="off",
            log_level="warning",
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.02)
    return server, task


async def test_watch_follows_one_job_through_an_api_restart(stack: Stack, tenant: Tenant) -> None:
    port = free_port()
    app = stack.app_transport.app
    server, task = await _serve(app, port)
    job = await create_job(tenant.api, name="watched", data={"steps": 30, "step_seconds": 0.05})
    out = io.StringIO()
    watching = asyncio.create_task(
        watch(f"http://127.0.0.1:{port}", tenant.account.key, job["id"], out=out, max_backoff_s=0.5)
    )
    await wait_for_job(tenant.api, job["id"], lambda j: (j["progress"] or {}).get("current", 0) > 5)
    server.should_exit = True  # the API goes away mid-job...
    await task
    await asyncio.sleep(0.6)
    server, task = await _serve(app, port)  # ...and comes back
    try:
        status = await asyncio.wait_for(watching, 30)
    finally:
        server.should_exit = True
        await task
    text = out.getvalue()
    assert status == "completed"
    assert "connection lost; reconnecting" in text
    assert "100.0%  30/30 steps" in text.splitlines()[-1]
    assert text.splitlines()[-1].endswith("completed")


async def test_watch_says_why_it_was_refused(stack: Stack, tenant: Tenant) -> None:
    port = free_port()
    server, task = await _serve(stack.app_transport.app, port)
    try:
        with pytest.raises(WatchError, match="job nope not found"):
            await watch(f"http://127.0.0.1:{port}", tenant.account.key, "nope", out=io.StringIO())
        with pytest.raises(WatchError, match="unknown or revoked"):
            await watch(f"http://127.0.0.1:{port}", "jd_bad_key", None, out=io.StringIO())
    finally:
        server.should_exit = True
        await task
