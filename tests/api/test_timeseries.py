"""GET /api/stats/timeseries: jobs created / completed / failed / cancelled per bucket and
duration percentiles by type, over the last hour, day or week, on both databases."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from jobdeck.clock import utcnow
from jobdeck.store.tables import Job
from tests.conftest import Stack, Tenant, new_tenant


def _job(tenant_org: str, user: str, **values: Any) -> dict[str, Any]:
    created = values.pop("created_at")
    return {
        "id": str(uuid.uuid4()),
        "organization_id": tenant_org,
        "user_id": user,
        "type": values.pop("type", "test-steps"),
        "name": "charted",
        "status": values.pop("status", "pending"),
        "priority": 3,
        "data": {},
        "attempts": 1,
        "created_at": created,
        "updated_at": created,
        **values,
    }


def _bucket_of(body: dict[str, Any], when: datetime) -> dict[str, Any]:
    step = timedelta(seconds=body["bucketSeconds"])
    for bucket in body["buckets"]:
        start = datetime.fromisoformat(bucket["start"])
        if start <= when < start + step:
            return bucket
    raise AssertionError(f"{when} is in no bucket")


async def test_an_hour_by_minute_with_percentiles(stack: Stack, tenant: Tenant) -> None:
    org, user = tenant.account.organization_id, tenant.account.user_id
    now = utcnow()
    created = now - timedelta(minutes=30)
    rows = []
    # Five conversions finished 20 minutes ago after 1, 2, 3, 4 and 100 seconds.
    for seconds, status in [(1, "completed"), (2, "completed"), (3, "failed"), (4, "completed")]:
        finished = now - timedelta(minutes=20)
        rows.append(
            _job(
                org,
                user,
                type="data-conversion",
                status=status,
                created_at=created,
                started_at=finished - timedelta(seconds=seconds),
                finished_at=finished,
            )
        )
    finished = now - timedelta(minutes=10)
    rows.append(
        _job(
            org,
            user,
            type="data-conversion",
            status="cancelled",
            created_at=created,
            started_at=finished - timedelta(seconds=100),
            finished_at=finished,
        )
    )
    # One still running, one created two hours ago (outside the hour), one pending now.
    rows.append(_job(org, user, status="active", created_at=now - timedelta(minutes=5)))
    rows.append(_job(org, user, status="pending", created_at=now - timedelta(hours=2)))
    rows.append(_job(org, user, type="bulk-operation", created_at=now - timedelta(seconds=30)))
    other = await new_tenant(stack)
    rows.append(_job(other.organization_id, other.user_id, created_at=created))
    async with stack.db.write() as session:
        await session.execute(insert(Job), rows)

    response = await tenant.api.get("/api/stats/timeseries", params={"range": "hour"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["range"] == "hour" and body["bucketSeconds"] == 60 and body["type"] is None
    assert len(body["buckets"]) == 60
    assert sum(b["created"] for b in body["buckets"]) == 7
    assert _bucket_of(body, created)["created"] == 5
    twenty = _bucket_of(body, now - timedelta(minutes=20))
    assert (twenty["completed"], twenty["failed"], twenty["cancelled"]) == (3, 1, 0)
    assert _bucket_of(body, now - timedelta(minutes=10))["cancelled"] == 1
    assert sum(b["completed"] + b["failed"] + b["cancelled"] for b in body["buckets"]) == 5
    [conversion] = body["durations"]
    assert conversion["type"] == "data-conversion" and conversion["count"] == 5
    assert conversion["p50"] == pytest.approx(3, abs=0.01)
    assert conversion["p90"] == pytest.approx(61.6, abs=0.01)
    assert conversion["p99"] == pytest.approx(96.16, abs=0.01)
    assert conversion["max"] == pytest.approx(100, abs=0.01)

    typed = await tenant.api.get(
        "/api/stats/timeseries", params={"range": "hour", "type": "bulk-operation"}
    )
    body = typed.json()
    assert body["type"] == "bulk-operation"
    assert sum(b["created"] for b in body["buckets"]) == 1 and body["durations"] == []


async def test_a_day_and_a_week(stack: Stack, tenant: Tenant) -> None:
    org, user = tenant.account.organization_id, tenant.account.user_id
    now = utcnow()
    rows = [
        _job(org, user, created_at=now - timedelta(hours=3)),
        _job(org, user, created_at=now - timedelta(days=3)),
        _job(org, user, created_at=now - timedelta(days=9)),
    ]
    async with stack.db.write() as session:
        await session.execute(insert(Job), rows)
    day = (await tenant.api.get("/api/stats/timeseries", params={"range": "day"})).json()
    assert day["bucketSeconds"] == 900 and len(day["buckets"]) == 96
    assert sum(b["created"] for b in day["buckets"]) == 1
    week = (await tenant.api.get("/api/stats/timeseries", params={"range": "week"})).json()
    assert week["bucketSeconds"] == 3600 and len(week["buckets"]) == 168
    assert sum(b["created"] for b in week["buckets"]) == 2
    assert _bucket_of(week, now - timedelta(days=3))["created"] == 1
    starts = [datetime.fromisoformat(b["start"]) for b in week["buckets"]]
    assert starts == sorted(starts) and starts[0] == datetime.fromisoformat(week["start"])
    assert all(s.minute == 0 and s.second == 0 for s in starts)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"range": "month"}, "query.range: Input should be 'hour', 'day' or 'week'"),
        ({"type": "x" * 65}, "query.type: String should have at most 64 characters"),
    ],
)
async def test_bad_parameters_are_a_clear_422(
    tenant: Tenant, params: dict[str, str], message: str
) -> None:
    response = await tenant.api.get("/api/stats/timeseries", params=params)
    assert response.status_code == 422
    assert message in response.json()["detail"]
