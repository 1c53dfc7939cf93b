"""The job lifecycle through the REST API, on the real Temporal dev server."""

from __future__ import annotations

from tests.conftest import TEST_PROGRESS_INTERVAL_S, Tenant
from tests.helpers import create_job, events_of, wait_for_job


async def test_a_job_returns_pending_then_runs_to_completed(tenant: Tenant) -> None:
    job = await create_job(tenant.api, name="steps", data={"steps": 5, "step_seconds": 0.02})
    assert job["status"] in ("pending", "active")
    assert job["links"]["workflow"].endswith(f"/workflows/{job['id']}")

    done = await wait_for_job(tenant.api, job["id"])
    assert done["status"] == "completed"
    assert done["result"] == {"steps": 5, "attempt": 1}
    assert done["progress"]["percent"] == 100
    assert done["progress"]["current"] == done["progress"]["total"] == 5
    assert done["startedAt"] is not None and done["finishedAt"] is not None
    assert done["duration"] >= 0.1
    assert done["attempts"] == 1

    kinds = [e["kind"] for e in await events_of(tenant.api, job["id"])]
    assert kinds[0] == "created" and kinds[1] == "started" and kinds[-1] == "completed"
    assert "progress" in kinds
    assert kinds.count("completed") == 1


async def test_a_failing_job_ends_failed_with_its_error(tenant: Tenant) -> None:
    job = await create_job(tenant.api, data={"fail_permanently": True})
    done = await wait_for_job(tenant.api, job["id"])
    assert done["status"] == "failed"
    assert done["error"] == {
        "type": "BadInput",
        "message": "the input cannot work",
        "details": {"hint": "fix it"},
    }


async def test_a_tight_progress_loop_is_throttled_but_the_final_state_lands(
    tenant: Tenant,
) -> None:
    job = await create_job(tenant.api, data={"steps": 5000, "step_seconds": 0})
    done = await wait_for_job(tenant.api, job["id"])
    assert done["status"] == "completed"
    events = await events_of(tenant.api, job["id"])
    progress = [e for e in events if e["kind"] == "progress"]
    # 5,000 reports, a handful of writes: the first, at most one per interval and the last.
    # The bound follows the job's own duration, which a loaded machine stretches, so it
    # tests the throttle, not the machine.
    assert 1 <= len(progress) <= done["duration"] / TEST_PROGRESS_INTERVAL_S + 2
    assert len(progress) < 5000 / 10
    assert progress[-1]["data"]["job"]["progress"]["current"] == 5000
    assert progress[-1]["data"]["job"]["progress"]["rate"] is not None
