"""Listing, search, pagination, stats, idempotent creation and retry."""

from __future__ import annotations

import asyncio

from tests.conftest import Stack, Tenant
from tests.helpers import create_job, events_of, wait_for_job

QUICK = {"steps": 1, "step_seconds": 0}


async def test_idempotency_key_returns_the_same_job(tenant: Tenant) -> None:
    body = {"type": "test-steps", "name": "once", "data": QUICK}
    headers = {"Idempotency-Key": "order-42"}
    first = await tenant.api.post("/api/jobs", json=body, headers=headers)
    again = await tenant.api.post("/api/jobs", json=body, headers=headers)
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert first.json()["id"] == again.json()["id"]
    assert (await tenant.api.get("/api/jobs/stats")).json()["total"] == 1


async def test_racing_requests_with_one_key_make_one_job(tenant: Tenant) -> None:
    body = {"type": "test-steps", "name": "race", "data": QUICK}
    responses = await asyncio.gather(
        *[
            tenant.api.post("/api/jobs", json=body, headers={"Idempotency-Key": "k"})
            for _ in range(5)
        ]
    )
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert (await tenant.api.get("/api/jobs/stats")).json()["total"] == 1


async def test_reusing_a_key_for_another_request_is_a_conflict(tenant: Tenant) -> None:
    headers = {"Idempotency-Key": "k2"}
    await tenant.api.post(
        "/api/jobs", json={"type": "test-steps", "name": "a", "data": QUICK}, headers=headers
    )
    response = await tenant.api.post(
        "/api/jobs", json={"type": "test-steps", "name": "b", "data": QUICK}, headers=headers
    )
    assert response.status_code == 409
    assert "already used for a different request" in response.json()["detail"]


async def test_the_same_key_in_two_organizations_makes_two_jobs(
    stack: Stack, tenant: Tenant
) -> None:
    from tests.conftest import new_tenant

    body = {"type": "test-steps", "name": "x", "data": QUICK}
    a = await tenant.api.post("/api/jobs", json=body, headers={"Idempotency-Key": "shared"})
    other = await new_tenant(stack)
    async with stack.client(other.key) as api:
        b = await api.post("/api/jobs", json=body, headers={"Idempotency-Key": "shared"})
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


async def test_list_filters_search_and_paginates(tenant: Tenant) -> None:
    created = []
    for i in range(7):
        job = await create_job(
            tenant.api,
            name=f"Report {i}",
            description="quarterly" if i % 2 else None,
            data=QUICK if i != 3 else {"fail_permanently": True},
        )
        created.append(job["id"])
    for job_id in created:
        await wait_for_job(tenant.api, job_id)

    pages, cursor = [], None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        body = (await tenant.api.get("/api/jobs", params=params)).json()
        pages.append([j["id"] for j in body["data"]])
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for page in pages for i in page] == list(reversed(created))  # newest first

    failed = (await tenant.api.get("/api/jobs", params={"status": "failed"})).json()["data"]
    assert [j["name"] for j in failed] == ["Report 3"]
    both = await tenant.api.get("/api/jobs", params={"status": "failed,completed"})
    assert len(both.json()["data"]) == 7
    searched = (await tenant.api.get("/api/jobs", params={"q": "QUARTER"})).json()["data"]
    assert sorted(j["name"] for j in searched) == ["Report 1", "Report 3", "Report 5"]
    by_name = (await tenant.api.get("/api/jobs", params={"q": "report 6"})).json()["data"]
    assert [j["name"] for j in by_name] == ["Report 6"]
    by_type = (await tenant.api.get("/api/jobs", params={"q": "steps"})).json()["data"]
    assert len(by_type) == 7
    none = (await tenant.api.get("/api/jobs", params={"type": "bulk-operation"})).json()
    assert none["data"] == [] and none["nextCursor"] is None
    literal = (await tenant.api.get("/api/jobs", params={"q": "%"})).json()["data"]
    assert literal == []  # LIKE wildcards are searched literally

    stats = (await tenant.api.get("/api/jobs/stats")).json()
    assert stats == {
        "total": 7,
        "pending": 0,
        "active": 0,
        "completed": 6,
        "failed": 1,
        "cancelled": 0,
    }


async def test_retry_makes_a_linked_job_with_the_same_input(tenant: Tenant) -> None:
    job = await create_job(
        tenant.api, name="flaky", description="d", priority=2, data={"fail_permanently": True}
    )
    await wait_for_job(tenant.api, job["id"])
    response = await tenant.api.post(f"/api/jobs/{job['id']}/retry")
    assert response.status_code == 201
    retry = response.json()
    assert retry["id"] != job["id"]
    assert retry["retryOf"] == job["id"]
    assert retry["links"]["retryOf"] == f"/api/jobs/{job['id']}"
    assert (retry["name"], retry["description"], retry["priority"], retry["data"]) == (
        "flaky",
        "d",
        2,
        job["data"],
    )
    retried = [e for e in await events_of(tenant.api, job["id"]) if e["kind"] == "retried"]
    assert retried[0]["data"]["newJobId"] == retry["id"]
    original = (await tenant.api.get(f"/api/jobs/{job['id']}")).json()
    assert original["status"] == "failed"  # terminal stays terminal


async def test_retry_of_a_completed_job_is_refused(tenant: Tenant) -> None:
    job = await create_job(tenant.api, data=QUICK)
    await wait_for_job(tenant.api, job["id"])
    response = await tenant.api.post(f"/api/jobs/{job['id']}/retry")
    assert response.status_code == 409
    assert "only failed or cancelled jobs can be retried" in response.json()["detail"]


async def test_events_page_with_after(tenant: Tenant) -> None:
    job = await create_job(tenant.api, data={"steps": 3, "step_seconds": 0.06})
    await wait_for_job(tenant.api, job["id"])
    everything = await events_of(tenant.api, job["id"])
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids)
    after = (
        await tenant.api.get(f"/api/jobs/{job['id']}/events", params={"after": ids[1], "limit": 2})
    ).json()
    assert [e["id"] for e in after["data"]] == ids[2:4]
    assert after["nextAfter"] == ids[3]
    # Each event carries the job's public state, so a client can render from it alone.
    assert everything[-1]["data"]["job"]["status"] == "completed"


async def test_job_types_are_listed(tenant: Tenant) -> None:
    types = (await tenant.api.get("/api/jobs/types")).json()
    # Only jobdeck starts a pipeline's map step: the forms leave it out.
    assert [t["name"] for t in types if not t["startable"]] == ["pipeline-map"]
    names = [t["name"] for t in types]
    assert names == [
        "bulk-operation",
        "data-conversion",
        "dataset-validation",
        "fine-tuning",
        "model-training",
        "model-publish",
        "workflow-execution",
        "pipeline-map",
        "document-processing",
        "test-steps",
    ]


async def test_health_readiness_and_openapi(stack: Stack) -> None:
    async with stack.client(None) as api:
        assert (await api.get("/healthz")).json() == {"status": "ok"}
        ready = await api.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"database": "ok", "temporal": "ok"}
        spec = (await api.get("/openapi.json")).json()
        assert "/api/jobs/{job_id}/cancel" in spec["paths"]
        summary = spec["paths"]["/api/jobs"]["post"]["description"]
        assert summary.startswith("Create a job of any type")
        assert (await api.get("/docs")).status_code == 200
