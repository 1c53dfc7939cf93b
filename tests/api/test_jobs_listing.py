"""The jobs list for operators (issue 18): sorted by created, duration or status in either
direction with keyset pages that never repeat or skip a row (ties included), a range of
creation times, priorities, owners, a count for the filter, and clear 422s."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from jobdeck.api.routes import jobs as jobs_routes
from jobdeck.store import accounts
from jobdeck.store.accounts import Role
from jobdeck.store.tables import Job
from tests.conftest import Stack, Tenant, new_tenant

BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)


async def _fill(stack: Stack, tenant: Tenant) -> tuple[list[dict[str, Any]], str]:
    """17 jobs of the tenant (two users), with ties on every sort key; returns their rows
    (as inserted) and the second user's id. Another organization's jobs are never listed."""
    async with stack.db.write() as session:
        colleague = await accounts.create_user(
            session,
            organization_id=tenant.account.organization_id,
            email=f"colleague-{uuid.uuid4().hex[:6]}@example.com",
            name="Colleague",
            role=Role.MEMBER,
            now=BASE,
        )
    other = await new_tenant(stack)
    statuses = ["completed", "failed", "active", "pending", "cancelled"]
    rows: list[dict[str, Any]] = []
    for i in range(17):
        status = statuses[i % 5]
        # Two jobs share each creation time (ids break the tie), and durations repeat.
        created = BASE + timedelta(minutes=i // 2)
        started = created + timedelta(seconds=1) if status != "pending" else None
        finished = (
            started + timedelta(seconds=[5, 90, 5][i % 3])
            if started and status in ("completed", "failed", "cancelled")
            else None
        )
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "organization_id": tenant.account.organization_id,
                "user_id": colleague.id if i % 4 == 0 else tenant.account.user_id,
                "type": "test-steps",
                "name": f"listed {i:02d}",
                "status": status,
                "priority": 1 + i % 5,
                "data": {},
                "attempts": 1,
                "created_at": created,
                "updated_at": created,
                "started_at": started,
                "finished_at": finished,
            }
        )
    foreign = {**rows[0], "id": str(uuid.uuid4()), "organization_id": other.organization_id}
    foreign["user_id"] = other.user_id
    async with stack.db.write() as session:
        await session.execute(insert(Job), [*rows, foreign])
    return rows, colleague.id


async def _walk(api: httpx.AsyncClient, limit: int, **params: Any) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    for _ in range(30):
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        response = await api.get("/api/jobs", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["data"]) <= limit
        ids += [job["id"] for job in body["data"]]
        cursor = body["nextCursor"]
        if cursor is None:
            return ids
    raise AssertionError("nextCursor never ran out")


def _duration_ms(row: dict[str, Any]) -> int:
    if row["finished_at"] is None or row["started_at"] is None:
        return -1
    return round((row["finished_at"] - row["started_at"]).total_seconds() * 1000)


SORT_KEYS = {
    "created": lambda r: (r["created_at"], r["id"]),
    "duration": lambda r: (_duration_ms(r), r["created_at"], r["id"]),
    "status": lambda r: (r["status"], r["created_at"], r["id"]),
}


@pytest.mark.parametrize("sort", ["created", "-created", "duration", "-duration", "status"])
@pytest.mark.parametrize("limit", [1, 3, 50])
async def test_every_sort_pages_each_job_once_in_order(
    stack: Stack, tenant: Tenant, sort: str, limit: int
) -> None:
    rows, _ = await _fill(stack, tenant)
    key = SORT_KEYS[sort.lstrip("-")]
    expected = [r["id"] for r in sorted(rows, key=key, reverse=sort.startswith("-"))]
    assert await _walk(tenant.api, limit, sort=sort) == expected


async def test_sorted_pages_with_a_filter_and_descending_status(
    stack: Stack, tenant: Tenant
) -> None:
    rows, _ = await _fill(stack, tenant)
    wanted = [r for r in rows if r["status"] in ("failed", "completed")]
    expected = [r["id"] for r in sorted(wanted, key=SORT_KEYS["status"], reverse=True)]
    got = await _walk(tenant.api, 2, sort="-status", status="failed,completed")
    assert got == expected


async def test_time_range_priority_owner_and_count(stack: Stack, tenant: Tenant) -> None:
    rows, colleague = await _fill(stack, tenant)
    after, before = BASE + timedelta(minutes=2), BASE + timedelta(minutes=6)

    def expect(match: Any) -> list[str]:
        chosen = [r for r in rows if match(r)]
        return [r["id"] for r in sorted(chosen, key=SORT_KEYS["created"], reverse=True)]

    in_range = await _walk(
        tenant.api, 4, created_after=after.isoformat(), created_before=before.isoformat()
    )
    assert in_range == expect(lambda r: after <= r["created_at"] < before)
    # A time without a zone is UTC.
    naive = after.replace(tzinfo=None).isoformat()
    assert await _walk(tenant.api, 50, created_after=naive) == expect(
        lambda r: r["created_at"] >= after
    )
    assert await _walk(tenant.api, 50, priority="1,2") == expect(lambda r: r["priority"] <= 2)
    assert await _walk(tenant.api, 50, owner=colleague) == expect(
        lambda r: r["user_id"] == colleague
    )
    assert await _walk(tenant.api, 50, owner="me") == expect(lambda r: r["user_id"] != colleague)

    response = await tenant.api.get(
        "/api/jobs", params={"limit": 2, "count": "true", "status": "failed", "priority": [2, 5]}
    )
    body = response.json()
    matching = [r for r in rows if r["status"] == "failed" and r["priority"] in (2, 5)]
    assert body["total"] == len(matching) and len(body["data"]) == min(2, len(matching))
    assert body["totalCapped"] is False
    # Without ?count= there is no total (the count costs a query).
    assert (await tenant.api.get("/api/jobs")).json()["total"] is None


async def test_a_count_stops_past_the_cap(
    stack: Stack, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows, _ = await _fill(stack, tenant)
    monkeypatch.setattr(jobs_routes, "COUNT_CAP", 3)
    body = (await tenant.api.get("/api/jobs", params={"count": "true", "limit": 1})).json()
    assert len(rows) > 4 and (body["total"], body["totalCapped"]) == (3, True)
    monkeypatch.setattr(jobs_routes, "COUNT_CAP", len(rows))
    body = (await tenant.api.get("/api/jobs", params={"count": "true", "limit": 1})).json()
    assert (body["total"], body["totalCapped"]) == (len(rows), False)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"sort": "name"}, "query.sort: Input should be '-created', 'created'"),
        ({"priority": "7"}, "priority '7' is not one of 1, 2, 3, 4, 5 (1 runs first)"),
        ({"priority": "high"}, "priority 'high' is not one of 1, 2, 3, 4, 5"),
        ({"created_after": "yesterday"}, "query.created_after: Input should be a valid datetime"),
        (
            {"created_after": "2026-01-02T00:00:00Z", "created_before": "2026-01-01T00:00:00Z"},
            "created_after must be earlier than created_before",
        ),
        ({"count": "maybe"}, "query.count: Input should be a valid boolean"),
        ({"owner": "x" * 37}, "query.owner: String should have at most 36 characters"),
    ],
)
async def test_bad_list_parameters_are_a_clear_422(
    tenant: Tenant, params: dict[str, str], message: str
) -> None:
    response = await tenant.api.get("/api/jobs", params=params)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]


async def test_a_cursor_of_another_sort_is_refused(stack: Stack, tenant: Tenant) -> None:
    await _fill(stack, tenant)
    first = (await tenant.api.get("/api/jobs", params={"limit": 2, "sort": "status"})).json()
    response = await tenant.api.get(
        "/api/jobs", params={"limit": 2, "sort": "duration", "cursor": first["nextCursor"]}
    )
    assert response.status_code == 422
    assert "cursor belongs to another sort order" in response.json()["detail"]
    response = await tenant.api.get(
        "/api/jobs", params={"limit": 2, "sort": "status", "cursor": "bm90IGpzb24"}
    )
    assert response.status_code == 422
    assert "cursor is not one this API gave out" in response.json()["detail"]
