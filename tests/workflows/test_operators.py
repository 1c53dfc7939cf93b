"""What operators get in Temporal: jobs findable by search attributes, and each job
workflow answering a `progress` query."""

from __future__ import annotations

import asyncio

from tests.conftest import Stack, Tenant
from tests.helpers import create_job, wait_for_job


async def test_jobs_are_found_by_search_attributes(stack: Stack, tenant: Tenant) -> None:
    job = await create_job(tenant.api, name="Nightly export", data={"steps": 1})
    await wait_for_job(tenant.api, job["id"])
    org = tenant.account.organization_id
    query = f"JobType = 'test-steps' AND JobOrganization = '{org}' AND JobName = 'Nightly export'"
    found: list[str] = []
    for _ in range(50):  # visibility is eventually consistent
        found = [wf.id async for wf in stack.runtime.temporal.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.1)
    assert found == [job["id"]]


async def test_progress_query_answers_while_running_and_after(stack: Stack, tenant: Tenant) -> None:
    running = await create_job(tenant.api, data={"steps": 300, "step_seconds": 0.05})
    await wait_for_job(tenant.api, running["id"], lambda j: j["status"] == "active")
    handle = stack.runtime.temporal.get_workflow_handle(running["id"])
    snapshot = await handle.query("progress")
    assert snapshot["status"] == "active"
    await tenant.api.patch(f"/api/jobs/{running['id']}/cancel")
    await wait_for_job(tenant.api, running["id"])

    op = await create_job(
        tenant.api,
        type="bulk-operation",
        name="cancel again",
        data={"action": "cancel", "filter": {"ids": [running["id"]]}},
    )
    await wait_for_job(tenant.api, op["id"])
    final = await stack.runtime.temporal.get_workflow_handle(op["id"]).query("progress")
    assert final["status"] == "completed"
    assert final["progress"]["current"] == final["progress"]["total"] == 1
    assert final["progress"]["unit"] == "jobs"
