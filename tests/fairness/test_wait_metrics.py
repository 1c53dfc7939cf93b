"""GET /metrics: how long jobs waited from created to started, a histogram by organization
and job type (jobdeck_job_wait_seconds), each start counted once however often it is
scraped."""

from __future__ import annotations

from tests.api.test_metrics import _value
from tests.conftest import Stack, Tenant
from tests.helpers import create_job, wait_for_job


async def _metrics(stack: Stack) -> str:
    async with stack.client(None) as scraper:
        response = await scraper.get("/metrics")
    assert response.status_code == 200, response.text
    return response.text


async def test_waits_to_start_by_organization_and_type(stack: Stack, tenant: Tenant) -> None:
    org = tenant.account.organization_id
    assert (await tenant.api.put("/api/limits", json={"activeJobs": 1})).status_code == 200
    # The second waits for the first's slot: a second at least.
    first = await create_job(tenant.api, name="first", data={"steps": 5, "step_seconds": 0.2})
    second = await create_job(tenant.api, name="second", data={"steps": 1})
    for job in (first, second):
        assert (await wait_for_job(tenant.api, job["id"]))["status"] == "completed"
    text = await _metrics(stack)
    assert "# TYPE jobdeck_job_wait_seconds histogram" in text
    labels = {"organization": org, "type": "test-steps"}
    assert _value(text, "jobdeck_job_wait_seconds_count", **labels) == 2
    assert _value(text, "jobdeck_job_wait_seconds_bucket", le="+Inf", **labels) == 2
    # The second waited out the first's run (5 x 0.2 s): past half a second.
    assert _value(text, "jobdeck_job_wait_seconds_bucket", le="0.5", **labels) <= 1
    assert _value(text, "jobdeck_job_wait_seconds_sum", **labels) >= 0.9
    # Scraped again, nothing is counted twice; a new start is counted.
    third = await create_job(tenant.api, name="third", data={"steps": 1})
    await wait_for_job(tenant.api, third["id"])
    again = await _metrics(stack)
    assert _value(again, "jobdeck_job_wait_seconds_count", **labels) == 3
    assert _value(await _metrics(stack), "jobdeck_job_wait_seconds_count", **labels) == 3
    assert first["id"] not in again  # organizations and types only, never a job
