"""bulk-operation on the item runner: each target job's outcome is an item of the
operation: cancelled or retried (as which job), or skipped and why."""

from __future__ import annotations

from typing import Any

from tests.conftest import Stack, Tenant
from tests.helpers import create_job, wait_for_job
from tests.workflows.test_replay import record_history


async def _items(tenant: Tenant, job_id: str, **params: Any) -> list[dict[str, Any]]:
    response = await tenant.api.get(f"/api/jobs/{job_id}/items", params=params)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def test_bulk_cancel_says_which_jobs_were_cancelled_and_which_skipped(
    stack: Stack, tenant: Tenant
) -> None:
    finished = await create_job(tenant.api, name="done already", data={"steps": 1})
    await wait_for_job(tenant.api, finished["id"])
    running = [
        await create_job(tenant.api, name=f"long {i}", data={"steps": 500, "step_seconds": 0.05})
        for i in range(3)
    ]
    for job in running:
        await wait_for_job(tenant.api, job["id"], lambda j: j["status"] == "active")
    op = await create_job(
        tenant.api,
        type="bulk-operation",
        name="stop all",
        data={"action": "cancel", "filter": {"statuses": ["active", "completed"]}},
    )
    done = await wait_for_job(tenant.api, op["id"], within=30)
    assert done["status"] == "completed", done
    assert (done["result"]["succeeded"], done["result"]["skipped"]) == (3, 1)

    cancelled = await _items(tenant, op["id"], status="succeeded")
    assert sorted(i["key"] for i in cancelled) == sorted(j["id"] for j in running)
    assert all(i["result"] == {"cancelled": True} for i in cancelled)
    assert {i["details"]["name"] for i in cancelled} == {"long 0", "long 1", "long 2"}
    [skipped] = await _items(tenant, op["id"], status="skipped")
    assert skipped["key"] == finished["id"]
    assert "completed" in skipped["error"], skipped
    await record_history(stack, op["id"], "bulk-items-cancel")


async def test_bulk_retry_names_the_new_job_of_each_target(tenant: Tenant) -> None:
    bad = await create_job(tenant.api, name="bad", data={"fail_permanently": True})
    good = await create_job(tenant.api, name="good", data={"steps": 1})
    for job in (bad, good):
        await wait_for_job(tenant.api, job["id"])
    op = await create_job(
        tenant.api,
        type="bulk-operation",
        name="retry",
        data={"action": "retry", "filter": {"ids": [bad["id"], good["id"]]}},
    )
    done = await wait_for_job(tenant.api, op["id"], within=30)
    assert done["status"] == "completed", done
    by_key = {i["key"]: i for i in await _items(tenant, op["id"])}
    retried = by_key[bad["id"]]
    assert retried["status"] == "succeeded"
    assert retried["result"]["newJobId"] == done["result"]["newJobIds"][0]
    new = (await tenant.api.get(f"/api/jobs/{retried['result']['newJobId']}")).json()
    assert new["retryOf"] == bad["id"]
    assert by_key[good["id"]]["status"] == "skipped"
    assert "only failed or cancelled jobs can be retried" in by_key[good["id"]]["error"]
