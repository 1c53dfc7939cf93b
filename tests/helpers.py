"""Small helpers the tests share."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx


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
    until: Callable[[dict[str, Any]], bool] = lambda job: (
        job["status"] in ("completed", "failed", "cancelled")
    ),
    within: float = 30.0,
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        response = await api.get(f"/api/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if until(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job did not get there in {within} s: {job}")
        await asyncio.sleep(0.05)


async def events_of(api: httpx.AsyncClient, job_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/api/jobs/{job_id}/events")
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["data"]
    return events
