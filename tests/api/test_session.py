"""The dashboard's session cookie: minted from a key, holding no key, refused from other
origins for changes, ended by sign-out or by the key's revocation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from jobdeck.api.routes.session import COOKIE
from tests.conftest import Stack, Tenant

ORIGIN = "http://jobdeck.test"


def _browser(stack: Stack) -> httpx.AsyncClient:
    """A client with no bearer, keeping cookies, whose requests say they come from the API."""
    return httpx.AsyncClient(
        transport=stack.app_transport, base_url=ORIGIN, headers={"Origin": ORIGIN}
    )


@asynccontextmanager
async def _signed_in(stack: Stack, key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with _browser(stack) as client:
        response = await client.post("/api/session", json={"key": key})
        assert response.status_code == 200, response.text
        yield client


async def test_sign_in_sets_an_httponly_strict_cookie_without_the_key(
    stack: Stack, tenant: Tenant
) -> None:
    async with _browser(stack) as client:
        response = await client.post("/api/session", json={"key": tenant.account.key})
        assert response.status_code == 200
        assert response.json()["userId"] == tenant.account.user_id
        cookie = response.headers["set-cookie"]
        flags = {part.strip().lower() for part in cookie.split(";")}
        assert {"httponly", "samesite=strict", "path=/"} <= flags
        assert "secure" not in flags  # plain http here; https requests get Secure
        assert "max-age" not in cookie.lower()  # ends with the browser session
        value = client.cookies[COOKIE]
        assert tenant.account.key not in value and tenant.account.key.split("_", 2)[2] not in value

        me = await client.get("/api/me")
        assert me.status_code == 200 and me.json()["userId"] == tenant.account.user_id
        assert (await client.get("/api/session")).json()["userId"] == tenant.account.user_id
        created = await client.post("/api/jobs", json={"type": "test-steps", "name": "from tab"})
        assert created.status_code == 201, created.text


async def test_a_bad_key_gets_no_session(stack: Stack) -> None:
    async with _browser(stack) as client:
        response = await client.post("/api/session", json={"key": "jd_nothere_secret"})
        assert response.status_code == 401
        assert COOKIE not in client.cookies
        assert (await client.get("/api/session")).status_code == 204
        assert (await client.get("/api/me")).status_code == 401


async def test_bearer_still_works_and_wins(stack: Stack, tenant: Tenant) -> None:
    assert (await tenant.api.get("/api/me")).status_code == 200
    async with stack.client(tenant.account.key) as api:  # no Origin: not a browser
        assert (await api.post("/api/jobs", json={"type": "test-steps", "name": "x"})).is_success


async def test_cookie_changes_from_another_origin_are_refused(stack: Stack, tenant: Tenant) -> None:
    async with _signed_in(stack, tenant.account.key) as client:
        body = {"type": "test-steps", "name": "csrf"}
        for headers in (
            {"Origin": "https://evil.example"},
            {"Origin": "null"},
            {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        ):
            response = await client.post("/api/jobs", json=body, headers=headers)
            assert response.status_code == 403, headers
            assert "cross-origin" in response.json()["detail"]
        del client.headers["Origin"]  # no Origin, no Sec-Fetch-Site: refused as well
        assert (await client.post("/api/jobs", json=body)).status_code == 403
        same = await client.post("/api/jobs", json=body, headers={"Sec-Fetch-Site": "same-origin"})
        assert same.status_code == 201
        # Reading is fine from anywhere the (SameSite=Strict) cookie is sent.
        assert (await client.get("/api/me")).status_code == 200
        # Nor may another site sign the browser in, or out.
        foreign = {"Origin": "https://evil.example"}
        signin = {"key": tenant.account.key}
        assert (await client.post("/api/session", json=signin, headers=foreign)).status_code == 403
        assert (await client.delete("/api/session", headers=foreign)).status_code == 403


async def test_revoking_the_key_ends_the_session(stack: Stack, tenant: Tenant) -> None:
    created = await tenant.api.post("/api/keys", json={"name": "dashboard"})
    assert created.status_code == 201, created.text
    key = created.json()
    async with _signed_in(stack, key["key"]) as client:
        assert (await client.get("/api/me")).status_code == 200
        assert (await tenant.api.delete(f"/api/keys/{key['id']}")).status_code == 200
        response = await client.get("/api/me")
        assert response.status_code == 401
        assert "session has ended" in response.json()["detail"]
        assert (await client.get("/api/session")).status_code == 204


async def test_sign_out_clears_the_cookie(stack: Stack, tenant: Tenant) -> None:
    async with _signed_in(stack, tenant.account.key) as client:
        token = client.cookies[COOKIE]
        response = await client.delete("/api/session")
        assert response.status_code == 204
        assert COOKIE in response.headers["set-cookie"] and "max-age=0" in (
            response.headers["set-cookie"].lower()
        )
        assert COOKIE not in client.cookies
        assert (await client.get("/api/me")).status_code == 401
    # A forged or tampered token is worth nothing.
    async with _browser(stack) as client:
        key_id, expires, _ = token.split(".")
        for forged in (f"{key_id}.{int(expires) + 9999}.{token.split('.')[2]}", "x.1.y", "junk"):
            client.cookies.set(COOKIE, forged)
            assert (await client.get("/api/me")).status_code == 401, forged
