"""Trigger now honours the schedule's overlap policy against the schedule's own jobs
still running (pending or active), on the real dev server: skip, bufferOne and bufferAll
refuse it with a 409 naming the running job (a trigger is not buffered); cancelOther and
terminateOther cancel the running job and start the triggered one; allowAll starts it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.conftest import Tenant
from tests.helpers import wait_for_job
from tests.schedules.test_schedules_api import create, runs_of

SLOW = {"steps": 300, "step_seconds": 0.1}  # runs ~30 s unless cancelled


async def slow_schedule(api: httpx.AsyncClient, overlap: str) -> dict[str, Any]:
    return await create(
        api,
        paused=True,
        overlap=overlap,
        job={"type": "test-steps", "name": "slow", "data": SLOW},
    )


async def trigger(api: httpx.AsyncClient, schedule: dict[str, Any]) -> httpx.Response:
    return await api.post(f"/api/schedules/{schedule['id']}/trigger")


async def triggered(api: httpx.AsyncClient, schedule: dict[str, Any]) -> str:
    """The id of the job a trigger that must start one started."""
    response = await trigger(api, schedule)
    assert response.status_code == 202, response.text
    return response.headers["Location"].removeprefix("/api/jobs/")


async def cancel_all(api: httpx.AsyncClient, schedule: dict[str, Any]) -> None:
    for job in await runs_of(api, schedule["id"]):
        if job["status"] in ("pending", "active"):
            await api.patch(f"/api/jobs/{job['id']}/cancel")
    for job in await runs_of(api, schedule["id"]):
        assert (await wait_for_job(api, job["id"], within=30))["status"] in (
            "cancelled",
            "completed",
        )


@pytest.mark.parametrize("overlap", ["skip", "bufferOne", "bufferAll"])
async def test_a_refusing_policy_answers_409_naming_the_running_job(
    tenant: Tenant, overlap: str
) -> None:
    api = tenant.api
    schedule = await slow_schedule(api, overlap)
    running = await triggered(api, schedule)
    # Pending counts as running: refused before the job's workflow has even picked it up.
    refused = await trigger(api, schedule)
    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert running in detail and "(slow)" in detail
    assert f"overlap policy {overlap!r}" in detail and "not buffered" in detail
    await wait_for_job(api, running, lambda j: j["status"] == "active")
    refused = await trigger(api, schedule)
    assert refused.status_code == 409 and "is still active" in refused.json()["detail"]
    assert [j["id"] for j in await runs_of(api, schedule["id"])] == [running]  # none buffered

    # Another schedule's job is not this schedule's to wait for.
    other = await slow_schedule(api, overlap)
    elsewhere = await triggered(api, other)
    await cancel_all(api, other)
    assert elsewhere != running

    # Once the running job has ended, a trigger starts again.
    await cancel_all(api, schedule)
    again = await triggered(api, schedule)
    assert again != running
    await cancel_all(api, schedule)


async def test_concurrent_triggers_under_skip_start_one_job(tenant: Tenant) -> None:
    # Triggers of one schedule are taken one at a time: the first one's job is seen by
    # the others, so five at once are one job and four refusals, not five jobs.
    api = tenant.api
    schedule = await slow_schedule(api, "skip")
    answers = await asyncio.gather(*(trigger(api, schedule) for _ in range(5)))
    assert sorted(r.status_code for r in answers) == [202, 409, 409, 409, 409]
    (started,) = [r for r in answers if r.status_code == 202]
    job_id = started.headers["Location"].removeprefix("/api/jobs/")
    assert all(job_id in r.json()["detail"] for r in answers if r.status_code == 409)
    assert [j["id"] for j in await runs_of(api, schedule["id"])] == [job_id]
    await cancel_all(api, schedule)


@pytest.mark.parametrize("overlap", ["cancelOther", "terminateOther"])
async def test_a_cancelling_policy_cancels_the_running_job_and_starts(
    tenant: Tenant, overlap: str
) -> None:
    api = tenant.api
    schedule = await slow_schedule(api, overlap)
    first = await triggered(api, schedule)
    await wait_for_job(api, first, lambda j: j["status"] == "active")
    second = await triggered(api, schedule)
    assert second != first
    # Cancelled as a user's cancel would: by the workflow, with the request on its feed.
    assert (await wait_for_job(api, first, within=30))["status"] == "cancelled"
    events = (await api.get(f"/api/jobs/{first}/events")).json()
    kinds = [e["kind"] for e in events["data"]]
    assert "cancel_requested" in kinds, kinds
    await wait_for_job(api, second, lambda j: j["status"] == "active")
    # And the triggered one in turn by the next trigger: one job of the schedule runs.
    third = await triggered(api, schedule)
    assert (await wait_for_job(api, second, within=30))["status"] == "cancelled"
    await wait_for_job(api, third, lambda j: j["status"] == "active")
    await cancel_all(api, schedule)


async def test_allow_all_starts_beside_the_running_job(tenant: Tenant) -> None:
    api = tenant.api
    schedule = await slow_schedule(api, "allowAll")
    first = await triggered(api, schedule)
    await wait_for_job(api, first, lambda j: j["status"] == "active")
    second = await triggered(api, schedule)
    await wait_for_job(api, second, lambda j: j["status"] == "active")
    assert (await api.get(f"/api/jobs/{first}")).json()["status"] == "active"
    await cancel_all(api, schedule)
