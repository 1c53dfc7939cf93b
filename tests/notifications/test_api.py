"""The notifications API: channels and rules, secrets shown once and sealed at rest, and
a clear 422 for each kind of bad input."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from jobdeck.store.accounts import Role
from jobdeck.store.tables import NotificationChannel
from tests.conftest import new_tenant
from tests.notifications.conftest import Org


async def _channel(org: Org, **body: Any) -> dict[str, Any]:
    response = await org.api.post("/api/notifications/channels", json=body)
    assert response.status_code == 201, response.text
    channel: dict[str, Any] = response.json()
    return channel


async def test_a_webhook_secret_is_shown_once_and_sealed_at_rest(org: Org) -> None:
    created = await _channel(org, name="ops", kind="webhook", url="http://127.0.0.1:9/hooks")
    secret = created["secret"]
    assert secret.startswith("whsec_")
    got = (await org.api.get(f"/api/notifications/channels/{created['id']}")).json()
    listed = (await org.api.get("/api/notifications/channels")).json()
    assert "secret" not in got and all("secret" not in c for c in listed["items"])
    assert got["url"] == "http://127.0.0.1:9/hooks" and got["enabled"] and not got["disabled"]
    async with org.stack.db.read() as session:
        row = (
            await session.execute(
                select(NotificationChannel).where(NotificationChannel.id == created["id"])
            )
        ).scalar_one()
    assert secret not in row.secret and secret[6:] not in row.secret


async def test_slack_and_discord_urls_are_secrets_too(org: Org) -> None:
    url = "http://127.0.0.1:9/services/T000/B000/very-secret-token"
    created = await _channel(org, name="team", kind="slack", url=url)
    assert created["secret"] is None and created["url"] == "http://127.0.0.1:9/…"
    got = (await org.api.get(f"/api/notifications/channels/{created['id']}")).text
    assert "very-secret-token" not in got


async def test_channel_and_rule_lifecycle(org: Org) -> None:
    channel = await _channel(org, name="ops", kind="webhook", url="http://127.0.0.1:9/a")
    response = await org.api.post(
        "/api/notifications/rules",
        json={
            "name": "failures",
            "channelId": channel["id"],
            "events": ["job.failed", "job.stuck", "job.failed"],
            "jobTypes": ["test-steps"],
            "namePattern": "nightly-*",
            "priorities": [1, 2],
        },
    )
    assert response.status_code == 201, response.text
    rule = response.json()
    assert rule["events"] == ["job.failed", "job.stuck"]
    changed = await org.api.patch(
        f"/api/notifications/rules/{rule['id']}", json={"events": ["job.completed"]}
    )
    assert changed.status_code == 200 and changed.json()["events"] == ["job.completed"]
    assert changed.json()["namePattern"] == "nightly-*"
    renamed = await org.api.patch(
        f"/api/notifications/channels/{channel['id']}", json={"name": "on-call", "enabled": False}
    )
    assert renamed.json()["name"] == "on-call" and renamed.json()["enabled"] is False
    rules = (await org.api.get("/api/notifications/rules")).json()["items"]
    assert [r["id"] for r in rules] == [rule["id"]]
    assert (await org.api.delete(f"/api/notifications/channels/{channel['id']}")).status_code == 204
    # The channel's rules go with it.
    assert (await org.api.get(f"/api/notifications/rules/{rule['id']}")).status_code == 404
    events = (await org.api.get("/api/notifications/events")).json()["events"]
    assert "schedule.missed" in events and "pipeline.approval_waiting" in events


async def test_rotation_returns_a_new_secret_and_keeps_the_old_one_for_a_day(org: Org) -> None:
    channel = await _channel(org, name="ops", kind="webhook", url="http://127.0.0.1:9/a")
    response = await org.api.post(f"/api/notifications/channels/{channel['id']}/rotate-secret")
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != channel["secret"]
    assert rotated["previousValidUntil"]
    slack = await _channel(org, name="s", kind="slack", url="http://127.0.0.1:9/x")
    refused = await org.api.post(f"/api/notifications/channels/{slack['id']}/rotate-secret")
    assert refused.status_code == 409, refused.text


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"kind": "webhook", "url": "not a url"}, "absolute http"),
        ({"kind": "webhook", "url": "ftp://127.0.0.1/x"}, "absolute http"),
        ({"kind": "webhook", "url": "http://10.1.2.3/hook"}, "private address"),
        ({"kind": "webhook", "url": "http://169.254.169.254/latest"}, "link-local"),
        ({"kind": "webhook", "url": "http://[::1]:80/hook"}, "loopback"),
        ({"kind": "webhook", "url": "http://user:pw@127.0.0.1/x"}, "user name"),
        ({"kind": "webhook"}, "needs a url"),
        ({"kind": "webhook", "url": "http://127.0.0.1/x", "secret": "s3cret"}, "whsec_"),
        ({"kind": "pager", "url": "http://127.0.0.1/x"}, "kind"),
        ({"kind": "slack", "url": "http://127.0.0.1/x", "secret": "whsec_x"}, "no signing"),
        (
            {"kind": "email", "email": {"host": "127.0.0.1", "sender": "a@b.co", "to": ["x"]}},
            "not an email address",
        ),
        (
            {"kind": "email", "email": {"host": "127.0.0.1", "sender": "nope", "to": ["a@b.co"]}},
            "not an email address",
        ),
        ({"kind": "email"}, "email settings"),
    ],
)
async def test_bad_channels_get_a_clear_422(org: Org, body: dict[str, Any], says: str) -> None:
    response = await org.api.post("/api/notifications/channels", json={"name": "x", **body})
    assert response.status_code == 422, response.text
    assert says in response.json()["detail"], response.text


async def test_bad_rules_get_a_clear_422(org: Org) -> None:
    channel = await _channel(org, name="ops", kind="webhook", url="http://127.0.0.1:9/a")
    cases = [
        ({"events": ["job.exploded"]}, "unknown event 'job.exploded'"),
        ({"events": []}, "events"),
        ({"events": ["job.failed"], "jobTypes": ["no-such-type"]}, "unknown job type"),
        ({"events": ["job.failed"], "priorities": [0]}, "priorities go from 1"),
    ]
    for extra, says in cases:
        response = await org.api.post(
            "/api/notifications/rules", json={"name": "r", "channelId": channel["id"], **extra}
        )
        assert response.status_code == 422, response.text
        assert says in response.json()["detail"], response.text
    missing = await org.api.post(
        "/api/notifications/rules",
        json={"name": "r", "channelId": "nope", "events": ["job.failed"]},
    )
    assert missing.status_code == 404, missing.text


async def test_other_organizations_and_members(org: Org) -> None:
    channel = await _channel(org, name="ops", kind="webhook", url="http://127.0.0.1:9/a")
    other = await new_tenant(org.stack)
    async with org.stack.client(other.key) as api:
        assert (await api.get(f"/api/notifications/channels/{channel['id']}")).status_code == 404
        assert (await api.get("/api/notifications/channels")).json()["items"] == []
    member = await new_tenant(org.stack, role=Role.MEMBER)
    async with org.stack.client(member.key) as api:
        refused = await api.post(
            "/api/notifications/channels",
            json={"name": "x", "kind": "webhook", "url": "http://127.0.0.1:9/a"},
        )
        assert refused.status_code == 403, refused.text
        assert (await api.get("/api/notifications/channels")).status_code == 200
