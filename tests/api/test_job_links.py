"""A job started by another job (a pipeline's step, a bulk operation's) or fired by a
schedule carries the link, and the parent's children are one filter away."""

from __future__ import annotations

from jobdeck.services.jobs import JobControl, NewJob
from jobdeck.store.accounts import Principal, Role
from tests.conftest import Stack, Tenant

QUICK = {"steps": 1, "step_seconds": 0}


async def test_children_and_scheduled_runs_link_back(stack: Stack, tenant: Tenant) -> None:
    parent = (
        await tenant.api.post(
            "/api/jobs", json={"type": "test-steps", "name": "parent", "data": QUICK}
        )
    ).json()
    assert parent["parentId"] is None
    assert parent["links"]["children"] == f"/api/jobs?parent={parent['id']}"
    principal = Principal(
        user_id=tenant.account.user_id,
        organization_id=tenant.account.organization_id,
        role=Role.ADMIN,
        key_id="test",
    )
    control = JobControl(stack.runtime, stack.registry)
    child, _ = await control.create(
        principal, NewJob(type="test-steps", name="child", data=QUICK), parent_id=parent["id"]
    )
    fired, _ = await control.create(
        principal, NewJob(type="test-steps", name="fired", data=QUICK), schedule_id="nightly"
    )

    shown = (await tenant.api.get(f"/api/jobs/{child.id}")).json()
    assert shown["parentId"] == parent["id"]
    assert shown["links"]["parent"] == f"/api/jobs/{parent['id']}"
    children = (await tenant.api.get("/api/jobs", params={"parent": parent["id"]})).json()
    assert [job["id"] for job in children["data"]] == [child.id]
    runs = (await tenant.api.get("/api/jobs", params={"schedule": "nightly"})).json()
    assert [job["id"] for job in runs["data"]] == [fired.id]
    assert runs["data"][0]["scheduleId"] == "nightly"
