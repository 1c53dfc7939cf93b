"""Every request needs an API key, and an organization sees only its own jobs."""

from __future__ import annotations

from jobdeck.store.accounts import Role
from tests.conftest import Stack, Tenant, new_tenant
from tests.helpers import create_job, wait_for_job


async def test_missing_key_gets_401(stack: Stack) -> None:
    async with stack.client(None) as api:
        response = await api.get("/api/jobs")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "missing API key" in response.json()["detail"]


async def test_wrong_key_gets_401(stack: Stack) -> None:
    for key in ["jd_nothere_secret", "not-a-key", "jd_"]:
        async with stack.client(key) as api:
            response = await api.post("/api/jobs", json={"type": "test-steps", "name": "x"})
        assert response.status_code == 401, key
        assert response.json()["detail"] == "API key is unknown or revoked"


async def test_a_tampered_key_with_a_real_prefix_gets_401(stack: Stack, tenant: Tenant) -> None:
    async with stack.client(tenant.account.key[:-4] + "AAAA") as api:
        assert (await api.get("/api/jobs")).status_code == 401


async def test_another_organizations_job_answers_404_everywhere(
    stack: Stack, tenant: Tenant
) -> None:
    job = await create_job(tenant.api, data={"steps": 1, "step_seconds": 0})
    await wait_for_job(tenant.api, job["id"])
    other = await new_tenant(stack)
    async with stack.client(other.key) as api:
        for method, path in [
            ("GET", f"/api/jobs/{job['id']}"),
            ("GET", f"/api/jobs/{job['id']}/events"),
            ("PATCH", f"/api/jobs/{job['id']}/cancel"),
            ("POST", f"/api/jobs/{job['id']}/retry"),
        ]:
            response = await api.request(method, path)
            assert response.status_code == 404, (method, path)
            assert response.json()["detail"] == f"job {job['id']} not found"
        listed = (await api.get("/api/jobs")).json()["data"]
        assert listed == []
        assert (await api.get("/api/jobs/stats")).json()["total"] == 0


async def test_admins_manage_users_and_keys_members_do_not(stack: Stack, tenant: Tenant) -> None:
    response = await tenant.api.post(
        "/api/users", json={"email": "member@example.com", "name": "M", "role": "member"}
    )
    assert response.status_code == 201, response.text
    member_id = response.json()["id"]
    response = await tenant.api.post("/api/keys", json={"name": "ci", "userId": member_id})
    assert response.status_code == 201
    member_key = response.json()["key"]
    assert member_key.startswith("jd_")

    async with stack.client(member_key) as member:
        me = (await member.get("/api/me")).json()
        assert me == {
            "userId": member_id,
            "organizationId": tenant.account.organization_id,
            "role": "member",
        }
        refused = await member.post("/api/users", json={"email": "x@example.com", "name": "X"})
        assert refused.status_code == 403
        assert refused.json()["detail"] == "this needs an admin of the organization"
        assert (await member.get("/api/users")).status_code == 403
        # A member sees the jobs of the organization, like everyone in it.
        job = await create_job(member, data={"steps": 1, "step_seconds": 0})
    assert (await tenant.api.get(f"/api/jobs/{job['id']}")).status_code == 200

    keys = (await tenant.api.get("/api/keys")).json()["data"]
    member_key_id = next(k["id"] for k in keys if k["userId"] == member_id)
    assert "key" not in keys[0]  # the secret is never listed
    revoked = await tenant.api.delete(f"/api/keys/{member_key_id}")
    assert revoked.status_code == 200 and revoked.json()["revokedAt"] is not None
    async with stack.client(member_key) as member:
        assert (await member.get("/api/jobs")).status_code == 401


async def test_a_member_cannot_make_keys_for_others(stack: Stack, tenant: Tenant) -> None:
    member = await new_tenant(stack, role=Role.MEMBER)
    async with stack.client(member.key) as api:
        response = await api.post("/api/keys", json={"name": "x", "userId": tenant.account.user_id})
    assert response.status_code == 404


async def test_duplicate_user_email_is_a_conflict(tenant: Tenant) -> None:
    body = {"email": "dup@example.com", "name": "D"}
    assert (await tenant.api.post("/api/users", json=body)).status_code == 201
    response = await tenant.api.post("/api/users", json=body)
    assert response.status_code == 409
    assert "exists already" in response.json()["detail"]
