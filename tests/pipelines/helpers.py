"""Helpers the pipeline tests share."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.helpers import events_of, wait_for_job


async def save(api: httpx.AsyncClient, name: str, spec: Any) -> dict[str, Any]:
    response = await api.post("/api/pipelines", json={"name": name, "spec": spec})
    assert response.status_code == 201, response.text
    pipeline: dict[str, Any] = response.json()
    return pipeline


async def start(
    api: httpx.AsyncClient, pipeline_id: str, inputs: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    response = await api.post(
        f"/api/pipelines/{pipeline_id}/run", json={"inputs": inputs or {}, **extra}
    )
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


async def steps_of(api: httpx.AsyncClient, job_id: str) -> dict[str, dict[str, Any]]:
    response = await api.get(f"/api/jobs/{job_id}/steps")
    assert response.status_code == 200, response.text
    return {s["stepId"]: s for s in response.json()["data"]}


async def wait_for_step(
    api: httpx.AsyncClient, job_id: str, step_id: str, status: str, within: float = 30
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        response = await api.get(f"/api/jobs/{job_id}/steps")
        if response.status_code == 404:  # a child run whose row is not written yet
            await asyncio.sleep(0.05)
            continue
        found = {s["stepId"]: s for s in response.json()["data"]}.get(step_id, {})
        if found.get("status") == status:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"step {step_id} did not become {status}: {found}")


async def run_to_end(api: httpx.AsyncClient, job_id: str, within: float = 60) -> dict[str, Any]:
    """The job once it has ended (a child job's row may not be written yet: that waits)."""
    return await wait_for_job(api, job_id, within=within, missing_ok=True)


async def step_changes(api: httpx.AsyncClient, job_id: str) -> list[list[tuple[str, str]]]:
    """Each feed event of the run that carried step changes: its (step, status) pairs, in
    order."""
    return [
        [(c["stepId"], c["status"]) for c in e["data"]["steps"]]
        for e in await events_of(api, job_id)
        if e["data"] and e["data"].get("steps")
    ]
