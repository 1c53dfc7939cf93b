"""Small helpers the tests share."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

TERMINAL = ("completed", "failed", "cancelled")


async def create_job(
    api: httpx.AsyncClient,
    *,
    type: str = "test-steps",
    name: str = "a job",
    data: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    response = await api.post(
        "/api/jobs", json={"type": type, "name": name, "data": data or {}, **extra}
    )
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


async def wait_for_job(
    api: httpx.AsyncClient,
    job_id: str,
    until: Callable[[dict[str, Any]], bool] = lambda job: job["status"] in TERMINAL,
    within: float = 30.0,
    why: Callable[[], str] = lambda: "",
    missing_ok: bool = False,
) -> dict[str, Any]:
    """Poll the job until `until` holds; with missing_ok, a 404 means "not yet"."""
    deadline = time.monotonic() + within
    while True:
        response = await api.get(f"/api/jobs/{job_id}")
        job: dict[str, Any] = {}
        if not (missing_ok and response.status_code == 404):
            assert response.status_code == 200, response.text
            job = response.json()
            if until(job):
                return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job did not get there in {within} s: {job}\n{why()}")
        await asyncio.sleep(0.05)


async def events_of(api: httpx.AsyncClient, job_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/api/jobs/{job_id}/events", params={"limit": 1000})
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["data"]
    return events


async def event_kinds(api: httpx.AsyncClient, job_id: str) -> list[str]:
    return [event["kind"] for event in await events_of(api, job_id)]
