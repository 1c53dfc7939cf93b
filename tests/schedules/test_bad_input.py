"""Every bad schedule gets a clear 422 (or 404), and nothing is created."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Tenant
from tests.schedules.test_schedules_api import body

PAST = (datetime.now(UTC) - timedelta(days=1)).isoformat()


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"cron": "61 * * * *"}, "cron: bad minute"),
        ({"cron": "* * *"}, "cron: 3 fields"),
        ({"cron": "@fortnightly"}, "cron: unknown macro"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone: unknown zone 'Mars/Olympus_Mons'"),
        ({"interval": 60}, "give either cron"),
        ({"cron": None}, "give when to run"),
        ({"cron": None, "interval": 0}, "interval: must be 1 to"),
        ({"cron": None, "interval": -5}, "interval: must be 1 to"),
        ({"job": {"type": "no-such-type", "name": "x"}}, "unknown job type 'no-such-type'"),
        (
            {"job": {"type": "test-steps", "name": "x", "data": {"steps": -1}}},
            "invalid data for a test-steps job: data.steps",
        ),
        ({"endAt": PAST}, "endAt: "),
        ({"remainingRuns": 0}, "remainingRuns: must be 1 or more"),
        ({"catchupWindow": 5}, "catchupWindow: at least 10 seconds"),
        ({"jitter": -1}, "jitter: must be 0 or more"),
        ({"job": {"type": "test-steps", "name": "x", "priority": 9}}, "job.priority must be 1"),
        ({"name": "   "}, "name must be 1 to 200"),
    ],
)
async def test_bad_schedules_are_refused_with_the_reason(
    tenant: Tenant, changes: dict[str, Any], says: str
) -> None:
    response = await tenant.api.post("/api/schedules", json=body(**changes))
    assert response.status_code == 422, response.text
    assert says.lower() in response.json()["detail"].lower()
    assert (await tenant.api.get("/api/schedules")).json()["data"] == []


async def test_unknown_fields_and_overlaps_are_refused(tenant: Tenant) -> None:
    response = await tenant.api.post("/api/schedules", json=body(overlap="sometimes"))
    assert response.status_code == 422
    assert "overlap" in response.text
    response = await tenant.api.post("/api/schedules", json=body(every="1h"))
    assert response.status_code == 422
    assert "every" in response.text


async def test_a_bad_backfill_or_preview_is_refused(tenant: Tenant) -> None:
    created = await tenant.api.post("/api/schedules", json=body(paused=True))
    schedule_id = created.json()["id"]
    now = datetime.now(UTC)
    cases = [
        (
            {"start": now.isoformat(), "end": (now - timedelta(hours=1)).isoformat()},
            "end must be after start",
        ),
        (
            {"start": now.isoformat(), "end": (now + timedelta(days=1)).isoformat()},
            "end is in the future",
        ),
        (
            {"start": (now - timedelta(days=3650)).isoformat(), "end": now.isoformat()},
            "backfill at most 500 at a time",
        ),
    ]
    for payload, says in cases:
        response = await tenant.api.post(f"/api/schedules/{schedule_id}/backfill", json=payload)
        assert response.status_code == 422, response.text
        assert says in response.json()["detail"]
    response = await tenant.api.get("/api/schedules/preview", params={"cron": "99 * * * *"})
    assert response.status_code == 422 and "cron: bad minute" in response.json()["detail"]
    response = await tenant.api.get(
        "/api/schedules/preview", params={"cron": "0 * * * *", "timezone": "Nowhere"}
    )
    assert response.status_code == 422 and "timezone" in response.json()["detail"]
    assert (await tenant.api.get("/api/schedules/scnosuchschedul")).status_code == 404
