"""GET /metrics shows fair sharing by organization: the jobs waiting for a concurrency
slot and the slots held (counted from the slot table at scrape time, so every API process
reports the same), and this process's rate-limit rejections by organization and by what
was limited (creations or uploads, per key or per organization, live-feed sockets)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed

from jobdeck.store.tables import Job
from tests.api.test_metrics import _value
from tests.conftest import Stack, Tenant, new_tenant, open_stack
from tests.feed.conftest import open_feed, receive, serving
from tests.helpers import create_job, wait_for_job

LONG = {"steps": 100, "step_seconds": 0.1}


async def _metrics(stack: Stack) -> str:
    async with stack.client(None) as scraper:
        response = await scraper.get("/metrics")
    assert response.status_code == 200, response.text
    return response.text


def _absent(text: str, name: str, organization: str) -> bool:
    try:
        _value(text, name, organization=organization)
    except AssertionError:
        return True
    return False


async def test_waiting_and_held_slots_by_organization(stack: Stack, tenant: Tenant) -> None:
    org = tenant.account.organization_id
    limited = await tenant.api.put("/api/limits", json={"activeJobs": 1})
    assert limited.status_code == 200, limited.text
    jobs = [await create_job(tenant.api, name=f"job {i}", data=LONG) for i in range(3)]
    await wait_for_job(
        tenant.api,
        jobs[2]["id"],
        lambda j: (j["progress"] or {}).get("message") == "waiting for a slot (1 ahead)",
    )
    text = await _metrics(stack)
    assert "# TYPE jobdeck_jobs_waiting_for_slot gauge" in text
    assert "# TYPE jobdeck_slots_held gauge" in text
    assert _value(text, "jobdeck_slots_held", organization=org) == 1
    assert _value(text, "jobdeck_jobs_waiting_for_slot", organization=org) == 2
    # An organization with nothing running or waiting has no sample.
    idle = await new_tenant(stack)
    assert _absent(text, "jobdeck_slots_held", idle.organization_id)
    # No job id in a label: only organizations.
    assert not any(job["id"] in text for job in jobs)

    for job in jobs:
        await tenant.api.patch(f"/api/jobs/{job['id']}/cancel")
    for job in jobs:
        assert (await wait_for_job(tenant.api, job["id"], within=60))["status"] == "cancelled"
    text = await _metrics(stack)
    assert _absent(text, "jobdeck_slots_held", org)
    assert _absent(text, "jobdeck_jobs_waiting_for_slot", org)


@pytest.mark.timeout(120)
async def test_rate_limit_rejections_by_organization_and_limit(stack: Stack) -> None:
    limits = {
        "rate_creates_per_minute_key": 6.0,  # bursts of 2
        "rate_creates_per_minute_org": 9.0,  # bursts of 3
        "rate_uploads_per_minute_key": 3.0,  # bursts of 1
        "ws_connections_per_key": 1,
    }
    async with open_stack(
        stack, workers=False, task_queue=f"rl-{uuid.uuid4().hex[:8]}", **limits
    ) as api_stack:
        account, other = await new_tenant(api_stack), await new_tenant(api_stack)
        job = {"type": "test-steps", "name": "limited", "data": {}}
        files = {"file": ("rows.csv", b"q,a\nx,y\n", "text/csv")}
        async with api_stack.client(account.key) as api:
            assert [(await api.post("/api/jobs", json=job)).status_code for _ in range(3)] == [
                201,
                201,
                429,  # the key's bucket (2) is empty
            ]
            second_key = (await api.post("/api/keys", json={"name": "second"})).json()["key"]
            assert (await api.post("/api/datasets", files=files)).status_code == 201
            assert (await api.post("/api/datasets", files=files)).status_code == 429
        async with api_stack.client(second_key) as api:
            assert (await api.post("/api/jobs", json=job)).status_code == 201  # org's 3rd
            refused = await api.post("/api/jobs", json=job)
            assert refused.status_code == 429
            assert "per organization" in refused.json()["detail"]
        async with serving(api_stack.app_transport.app) as ws_base:  # type: ignore[arg-type]
            async with open_feed(f"{ws_base}/ws/jobs", account.key) as first:
                assert (await receive(first))["type"] in ("snapshot", "ready")
                async with open_feed(f"{ws_base}/ws/jobs", account.key) as extra:
                    with pytest.raises(ConnectionClosed) as closed:
                        while True:
                            await receive(extra)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429

        text = await _metrics(api_stack)
        org = account.organization_id
        name = "jobdeck_rate_limited_total"
        assert "# TYPE jobdeck_rate_limited_total counter" in text
        assert _value(text, name, organization=org, limit="creates_per_key") == 1
        assert _value(text, name, organization=org, limit="creates_per_organization") == 1
        assert _value(text, name, organization=org, limit="uploads_per_key") == 1
        assert _value(text, name, organization=org, limit="sockets_per_key") == 1
        assert _absent(text, name, other.organization_id)  # never refused
        # The HTTP family still counts the 429s by route, without organization.
        assert _value(text, "jobdeck_http_requests_total", route="/api/jobs", status="429") == 2

        async with api_stack.db.read() as session:
            stmt = select(Job.id).where(Job.organization_id == org)
            ids = list((await session.execute(stmt)).scalars())
        for job_id in ids:  # on a queue nobody polls: end them
            await api_stack.runtime.temporal.get_workflow_handle(job_id).terminate("test over")
