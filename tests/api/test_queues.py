"""GET /api/operations/queues: the task queues with their workers (Temporal's
DescribeTaskQueue), backlog, the worker running each of the caller's running jobs, and a
warning for a queue that has work and no worker polling it."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import insert

from jobdeck.clock import utcnow
from jobdeck.store.tables import Job
from tests.conftest import Stack, Tenant, open_stack
from tests.helpers import create_job, wait_for_job


async def _queues(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.get("/api/operations/queues")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _queue(body: dict[str, Any], name: str) -> dict[str, Any]:
    [queue] = [q for q in body["queues"] if q["name"] == name]
    return queue


async def test_polled_queues_and_the_worker_of_a_running_job(stack: Stack, tenant: Tenant) -> None:
    job = await create_job(tenant.api, name="slow", data={"steps": 60, "step_seconds": 0.1})
    await wait_for_job(tenant.api, job["id"], lambda j: j["status"] == "active")
    body = await _queues(tenant.api)
    default = _queue(body, stack.settings.task_queue)
    assert "test-steps" in default["types"]
    assert {s["kind"] for s in default["sides"]} == {"workflow", "activity"}
    for side in default["sides"]:
        assert side["pollers"], side
        assert all("@" in p["identity"] for p in side["pollers"])
    assert default["warning"] is None
    # The training queue (this stack's worker polls it: the training extra is installed).
    training = _queue(body, stack.settings.training_queue)
    assert training["types"] == ["model-training"]
    assert [s["kind"] for s in training["sides"]] == ["activity"]
    assert training["sides"][0]["pollers"] and training["warning"] is None
    # The running job, with the step it is in and the worker running it.
    deadline = time.monotonic() + 10
    while True:
        running = {r["jobId"]: r for r in body["running"]}
        entry = running.get(job["id"], {})
        if entry.get("worker") or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
        body = await _queues(tenant.api)
    assert entry["step"] == "test-steps.run" and entry["attempt"] == 1
    assert entry["worker"] and "@" in entry["worker"]
    await tenant.api.patch(f"/api/jobs/{job['id']}/cancel")


async def test_a_queue_with_work_and_no_worker_warns(stack: Stack, tenant: Tenant) -> None:
    queue = f"nobody-{uuid.uuid4().hex[:8]}"
    async with open_stack(stack, workers=False, task_queue=queue, worker_training="off") as idle:
        async with idle.client(tenant.account.key) as api:
            body = await _queues(api)
            assert _queue(body, queue)["warning"] is None  # no work: nothing to say
            # A job nobody picks up: its first workflow task waits in the backlog.
            await create_job(api, name="stuck")
            deadline = time.monotonic() + 20
            while True:
                body = await _queues(api)
                default = _queue(body, queue)
                if default["warning"] or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            assert default["warning"], default
            assert f"no worker polls {queue!r}" in default["warning"] or (
                f"wait on {queue!r} and no worker polls it" in default["warning"]
            )
            assert all(not s["pollers"] for s in default["sides"])
            assert default["jobsWaiting"] == 1

            # A model-training job waiting with no worker on the training queue.
            async with idle.db.write() as session:
                now = utcnow()
                await session.execute(
                    insert(Job),
                    [
                        {
                            "id": str(uuid.uuid4()),
                            "organization_id": tenant.account.organization_id,
                            "user_id": tenant.account.user_id,
                            "type": "model-training",
                            "name": "waits for a GPU",
                            "status": "active",
                            "priority": 3,
                            "data": {},
                            "attempts": 1,
                            "created_at": now,
                            "updated_at": now,
                        }
                    ],
                )
            training = _queue(await _queues(api), f"{queue}-training")
            assert training["jobsWaiting"] == 1
            assert training["warning"] == (
                f"1 job(s) of its types are pending or active and no worker polls "
                f"'{queue}-training': they cannot progress until one does"
            )
