"""What the lifecycle promises, shown on the real Temporal dev server: cancel reaches a
running step quickly and runs its cleanup, failed steps retry with exponential backoff
and the attempts show, and higher-priority jobs overtake a queue of lower ones."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from tests.conftest import Stack, Tenant, open_stack
from tests.helpers import create_job, events_of, wait_for_job


def _at(event: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(event["createdAt"]))


async def test_cancel_reaches_the_running_step_within_two_seconds(tenant: Tenant) -> None:
    job = await create_job(tenant.api, data={"steps": 400, "step_seconds": 0.05})
    await wait_for_job(
        tenant.api, job["id"], lambda j: (j["progress"] or {}).get("current", 0) >= 3
    )
    asked = time.monotonic()
    response = await tenant.api.patch(f"/api/jobs/{job['id']}/cancel")
    assert response.status_code == 202
    done = await wait_for_job(tenant.api, job["id"], within=10)
    took = time.monotonic() - asked
    assert done["status"] == "cancelled"
    assert done["progress"]["current"] < 400
    assert took < 2.5, f"cancel took {took:.2f} s"
    events = await events_of(tenant.api, job["id"])
    kinds = [e["kind"] for e in events]
    assert "cancel_requested" in kinds
    cleanup = [
        e for e in events if e["kind"] == "message" and e["data"]["message"] == "cleanup ran"
    ]
    assert len(cleanup) == 1
    # The step's cleanup finished before the job was marked cancelled.
    assert kinds.index("message") < kinds.index("cancelled") == len(kinds) - 1


async def test_cancel_of_a_finished_job_is_refused_and_changes_nothing(tenant: Tenant) -> None:
    job = await create_job(tenant.api, data={"steps": 1, "step_seconds": 0})
    await wait_for_job(tenant.api, job["id"])
    response = await tenant.api.patch(f"/api/jobs/{job['id']}/cancel")
    assert response.status_code == 409
    assert "only pending or active jobs can be cancelled" in response.json()["detail"]
    after = (await tenant.api.get(f"/api/jobs/{job['id']}")).json()
    assert after["status"] == "completed"


async def test_failing_step_is_retried_with_exponential_backoff(tenant: Tenant) -> None:
    job = await create_job(tenant.api, data={"steps": 1, "step_seconds": 0, "fail_times": 2})
    done = await wait_for_job(tenant.api, job["id"])
    assert done["status"] == "completed"
    assert done["result"]["attempt"] == 3
    assert done["attempts"] == 3
    events = await events_of(tenant.api, job["id"])
    failed = [e for e in events if e["kind"] == "attempt_failed"]
    assert [e["data"]["attempt"] for e in failed] == [1, 2]
    assert [e["data"]["retryInSeconds"] for e in failed] == [0.2, 0.4]
    assert failed[0]["data"]["error"]["message"] == "flaky failure on attempt 1"
    assert failed[0]["data"]["job"]["attempts"] == 2  # visible while the retry waits
    completed = next(e for e in events if e["kind"] == "completed")
    # Temporal waited out each backoff before the next try.
    assert (_at(failed[1]) - _at(failed[0])).total_seconds() >= 0.2
    assert (_at(completed) - _at(failed[1])).total_seconds() >= 0.4


async def test_a_step_that_keeps_failing_fails_the_job_after_its_attempts(tenant: Tenant) -> None:
    job = await create_job(tenant.api, data={"steps": 1, "step_seconds": 0, "fail_times": 9})
    done = await wait_for_job(tenant.api, job["id"], within=30)
    assert done["status"] == "failed"
    assert done["error"]["type"] == "RuntimeError"
    assert done["error"]["message"] == "flaky failure on attempt 5"
    failed = [e for e in await events_of(tenant.api, job["id"]) if e["kind"] == "attempt_failed"]
    assert len(failed) == 5
    assert failed[-1]["data"]["retryInSeconds"] is None  # the last try: no retry follows


@pytest.fixture
async def one_slot_stack(stack: Stack) -> AsyncIterator[Stack]:
    """A worker that runs one activity at a time, so jobs queue up behind each other."""
    async with open_stack(
        stack,
        task_queue=f"tq-{uuid.uuid4().hex[:8]}",
        worker_max_concurrent_activities=1,
        worker_training="off",
    ) as one_slot:
        yield one_slot


async def test_a_higher_priority_job_overtakes_queued_lower_ones(
    one_slot_stack: Stack, tenant: Tenant
) -> None:
    async with one_slot_stack.client(tenant.account.key) as api:
        lows = [
            await create_job(
                api, name=f"low {i}", data={"steps": 4, "step_seconds": 0.1}, priority=5
            )
            for i in range(5)
        ]
        await wait_for_job(api, lows[0]["id"], lambda j: j["status"] == "active")
        high = await create_job(
            api, name="high", data={"steps": 4, "step_seconds": 0.1}, priority=1
        )
        finished = {}
        for job in [*lows, high]:
            done = await wait_for_job(api, job["id"], within=60)
            assert done["status"] == "completed"
            finished[job["name"]] = datetime.fromisoformat(done["finishedAt"])
    # Submitted last, it still ends before the low-priority jobs that were waiting.
    waiting = [finished[f"low {i}"] for i in (2, 3, 4)]
    assert finished["high"] < min(waiting), finished
