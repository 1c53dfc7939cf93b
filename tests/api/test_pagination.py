"""Fine-tunes, models, users and API keys are listed like jobs: newest first, keyset-paged
on (created_at, id) with `?limit=&cursor=`, as `{data, nextCursor}`; every row once, no
other organization's rows, and a member's keys filtered in the query (so no page of a
member's comes back short or empty while more of their keys follow)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from jobdeck.store import fine_tuning as ft_store
from tests.conftest import Stack, Tenant, new_tenant

FOREIGN = "cursor is not one this API gave out; pass the nextCursor of a previous page"
LISTS = ["/api/fine-tuning/jobs", "/api/models", "/api/users", "/api/keys"]
# Created an hour ago, a second apart; the third and fourth at one instant (id breaks ties).
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
TIMES = [BASE + timedelta(seconds=s) for s in (0, 1, 2, 2, 3)]


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


async def walk(api: httpx.AsyncClient, path: str, limit: int) -> list[list[dict[str, Any]]]:
    """Every page of a list, following nextCursor to the end."""
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await api.get(path, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"data", "nextCursor"}
        pages.append(body["data"])
        cursor = body["nextCursor"]
        if cursor is None:
            return pages
        assert len(pages) < 20, "nextCursor never ran out"


def _key(row: dict[str, Any]) -> tuple[datetime, str]:
    return datetime.fromisoformat(row["createdAt"]), row["id"]


def assert_paged(pages: list[list[dict[str, Any]]], expected: list[str], limit: int) -> None:
    """`expected` (ids newest first) in pages of `limit`, each row exactly once."""
    rows = [row for page in pages for row in page]
    assert [row["id"] for row in rows] == expected
    assert len(set(expected)) == len(expected)
    sizes = [len(page) for page in pages]
    assert sizes[:-1] == [limit] * (len(pages) - 1) and 1 <= sizes[-1] <= limit
    keys = [_key(row) for row in rows]
    assert keys == sorted(keys, reverse=True)  # newest first, id breaking ties


def _newest_first(rows: list[tuple[datetime, str]]) -> list[str]:
    return [row_id for _, row_id in sorted(rows, reverse=True)]


async def test_fine_tunes_page_newest_first(stack: Stack, tenant: Tenant) -> None:
    other = await new_tenant(stack)
    mine: list[tuple[datetime, str]] = []
    async with stack.db.write() as session:
        for owner, times in ((tenant.account, TIMES), (other, TIMES[:3])):
            for when in times:
                record_id = str(uuid.uuid4())
                values = {
                    "id": record_id,
                    "organization_id": owner.organization_id,
                    "user_id": owner.user_id,
                    "name": f"ft at {when:%H:%M:%S}",
                    "provider": "openai",
                    "base_model": "gpt-4o-mini",
                    "dataset_id": str(uuid.uuid4()),
                    "hyperparameters": {},
                }
                await ft_store.ensure_fine_tuning(session, values=values, now=when)
                if owner is tenant.account:
                    mine.append((when, record_id))

    pages = await walk(tenant.api, "/api/fine-tuning/jobs", limit=2)
    assert_paged(pages, _newest_first(mine), limit=2)
    whole = (await tenant.api.get("/api/fine-tuning/jobs")).json()
    assert [r["id"] for r in whole["data"]] == _newest_first(mine)
    assert whole["nextCursor"] is None


async def test_models_page_newest_first(stack: Stack, tenant: Tenant) -> None:
    other = await new_tenant(stack)
    mine: list[tuple[datetime, str]] = []
    async with stack.db.write() as session:
        for organization_id, times in (
            (tenant.account.organization_id, TIMES),
            (other.organization_id, TIMES[:3]),
        ):
            for when in times:
                model = await ft_store.ensure_model(
                    session,
                    organization_id=organization_id,
                    job_id=str(uuid.uuid4()),
                    name=f"ft:gpt-4o-mini:{uuid.uuid4().hex[:6]}",
                    provider="openai",
                    base_model="gpt-4o-mini",
                    dataset_id=None,
                    details=None,
                    now=when,
                )
                if organization_id == tenant.account.organization_id:
                    mine.append((when, model.id))

    pages = await walk(tenant.api, "/api/models", limit=2)
    assert_paged(pages, _newest_first(mine), limit=2)
    one_page = await walk(tenant.api, "/api/models", limit=5)
    assert [len(p) for p in one_page] == [5]  # exactly a page: no empty page after it


async def test_users_page_newest_first(stack: Stack, tenant: Tenant) -> None:
    other = await new_tenant(stack)
    async with stack.client(other.key) as other_api:
        response = await other_api.post(
            "/api/users", json={"email": f"o-{uuid.uuid4().hex[:8]}@example.com", "name": "O"}
        )
        assert response.status_code == 201
        theirs = {other.user_id, response.json()["id"]}

    created = []
    for i in range(5):
        body = {"email": f"u{i}-{uuid.uuid4().hex[:8]}@example.com", "name": f"U{i}"}
        response = await tenant.api.post("/api/users", json=body)
        assert response.status_code == 201, response.text
        created.append(response.json())

    pages = await walk(tenant.api, "/api/users", limit=2)
    listed = [u for page in pages for u in page]
    everyone = [*created, next(u for u in listed if u["id"] == tenant.account.user_id)]
    assert_paged(pages, _newest_first([_key(u) for u in everyone]), limit=2)
    assert not theirs & {u["id"] for u in listed}
    assert [u["name"] for u in listed[:5]] == ["U4", "U3", "U2", "U1", "U0"]


async def test_keys_page_newest_first_and_a_member_sees_only_their_own(
    stack: Stack, tenant: Tenant
) -> None:
    other = await new_tenant(stack)
    async with stack.client(other.key) as other_api:
        assert (await other_api.post("/api/keys", json={"name": "theirs"})).status_code == 201
        theirs = {k["id"] for k in (await other_api.get("/api/keys")).json()["data"]}
    assert len(theirs) == 2

    response = await tenant.api.post(
        "/api/users",
        json={"email": f"m-{uuid.uuid4().hex[:8]}@example.com", "name": "M", "role": "member"},
    )
    member_id = response.json()["id"]
    # The member's keys first, then more of the admin's: newest first, a member's own
    # keys come after pages' worth of keys that are not theirs.
    member_keys, admin_keys = [], []
    for i in range(3):
        body = {"name": f"member {i}", "userId": member_id}
        response = await tenant.api.post("/api/keys", json=body)
        assert response.status_code == 201, response.text
        member_keys.append(response.json())
    for i in range(4):
        response = await tenant.api.post("/api/keys", json={"name": f"admin {i}"})
        assert response.status_code == 201, response.text
        admin_keys.append(response.json())

    pages = await walk(tenant.api, "/api/keys", limit=3)
    listed = [k for page in pages for k in page]
    made = {k["id"] for k in [*member_keys, *admin_keys]}
    first = [k for k in listed if k["id"] not in made]  # the key the tenant was made with
    assert [k["userId"] for k in first] == [tenant.account.user_id]
    everyone = [*first, *member_keys, *admin_keys]
    assert_paged(pages, _newest_first([_key(k) for k in everyone]), limit=3)
    assert not theirs & {k["id"] for k in listed}
    assert all("key" not in k for k in listed)  # the secret is never listed

    async with stack.client(member_keys[0]["key"]) as member:
        pages = await walk(member, "/api/keys", limit=2)
        assert_paged(pages, [k["id"] for k in reversed(member_keys)], limit=2)
        assert {k["userId"] for page in pages for k in page} == {member_id}


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        _cursor([1, 2]),
        _cursor({"a": 1, "b": 2}),
        _cursor(["2024-01-01T00:00:00", "x"]),  # no zone: not one this API gives out
        _cursor(["2024-01-01T00:00:00+00:00", 7]),
    ],
)
async def test_a_foreign_cursor_is_refused(tenant: Tenant, path: str, cursor: str) -> None:
    response = await tenant.api.get(path, params={"cursor": cursor})
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == FOREIGN


@pytest.mark.parametrize("path", LISTS)
async def test_limit_is_bounded_like_jobs(tenant: Tenant, path: str) -> None:
    for limit in (0, 201):
        response = await tenant.api.get(path, params={"limit": limit})
        assert response.status_code == 422, (limit, response.text)
    response = await tenant.api.get(path, params={"limit": 200})
    assert response.status_code == 200
    assert response.json()["nextCursor"] is None
