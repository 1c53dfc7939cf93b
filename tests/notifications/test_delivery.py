"""Deliveries end to end on the real stack: a job's end reaches a local receiver signed
per Standard Webhooks (checked by the reference library), once, through failures."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from jobdeck.notifications.announce import announce
from tests.conftest import open_stack
from tests.helpers import create_job, wait_for_job
from tests.notifications.conftest import Org, Served


async def webhook(org: Org, url: str, **rule: Any) -> dict[str, Any]:
    """A webhook channel and one rule sending it `rule["events"]` (default: job ends)."""
    response = await org.api.post(
        "/api/notifications/channels", json={"name": "hooks", "kind": "webhook", "url": url}
    )
    assert response.status_code == 201, response.text
    channel: dict[str, Any] = response.json()
    rule.setdefault("events", ["job.completed", "job.failed", "job.cancelled"])
    response = await org.api.post(
        "/api/notifications/rules", json={"name": "r", "channelId": channel["id"], **rule}
    )
    assert response.status_code == 201, response.text
    return channel


async def deliveries(org: Org, channel_id: str) -> list[dict[str, Any]]:
    response = await org.api.get(f"/api/notifications/channels/{channel_id}/deliveries")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def settled(
    org: Org, channel_id: str, count: int, within: float = 30
) -> list[dict[str, Any]]:
    """The channel's deliveries once `count` of them have ended (delivered or failed)."""
    deadline = time.monotonic() + within
    while True:
        items = await deliveries(org, channel_id)
        if sum(1 for d in items if d["status"] != "pending") >= count:
            return items
        assert time.monotonic() < deadline, items
        await asyncio.sleep(0.05)


async def test_a_finished_job_is_delivered_signed(org: Org, receiver: Served) -> None:
    channel = await webhook(org, receiver.url)
    receiver.receiver.secrets = [channel["secret"]]
    job = await create_job(org.api, name="nightly", data={"steps": 1, "step_seconds": 0})
    await wait_for_job(org.api, job["id"])
    [got] = await receiver.receiver.wait_for(1)
    assert got.verified is True
    body = got.json
    assert body["type"] == "job.completed"
    assert body["data"]["jobId"] == job["id"] and body["data"]["job"]["name"] == "nightly"
    assert body["data"]["job"]["status"] == "completed"
    [delivery] = await settled(org, channel["id"], 1)
    assert delivery["id"] == got.msg_id
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1
    assert delivery["lastStatusCode"] == 204


async def test_a_failed_job_and_the_rule_filters(org: Org, receiver: Served) -> None:
    hits = await webhook(
        org, receiver.url, events=["job.failed"], jobTypes=["test-steps"], namePattern="etl-*"
    )
    misses = await webhook(org, receiver.url, events=["job.failed"], priorities=[5])
    quiet = await create_job(org.api, name="etl-ok", data={"steps": 1, "step_seconds": 0})
    failing = await create_job(
        org.api, name="ETL-daily", priority=2, data={"fail_permanently": True}
    )
    other = await create_job(org.api, name="other", priority=2, data={"fail_permanently": True})
    for job in (quiet, failing, other):
        await wait_for_job(org.api, job["id"])
    [got] = await receiver.receiver.wait_for(1)
    assert got.json["type"] == "job.failed" and got.json["data"]["jobId"] == failing["id"]
    assert got.json["data"]["job"]["error"]["message"]
    await settled(org, hits["id"], 1)
    # The same announces found nothing for the priority-5 rule: no delivery was made.
    assert await deliveries(org, misses["id"]) == []
    assert len(receiver.receiver.received) == 1


async def test_a_receiver_down_for_a_while_loses_nothing(org: Org, receiver: Served) -> None:
    """Down until every event has been refused at least once and then for a second more,
    against a retry schedule scaled to seconds (the issue's 30 minutes, scaled down):
    every event arrives once, with each failed try in the log."""
    channel = await webhook(org, receiver.url)
    hooks = receiver.receiver
    hooks.secrets = [channel["secret"]]
    hooks.down_until = float("inf")
    jobs = [
        await create_job(org.api, name=f"j{i}", data={"steps": 1, "step_seconds": 0})
        for i in range(5)
    ]
    for job in jobs:
        await wait_for_job(org.api, job["id"])
    deadline = time.monotonic() + 30
    while len({r.msg_id for r in hooks.refused}) < 5:
        assert time.monotonic() < deadline, len(hooks.refused)
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    hooks.down_until = 0.0  # back up
    got = await hooks.wait_for(5, within=30)
    assert sorted(r.json["data"]["jobId"] for r in got) == sorted(j["id"] for j in jobs)
    assert all(r.verified for r in got)
    items = await settled(org, channel["id"], 5)
    assert {d["status"] for d in items} == {"delivered"}
    assert all(d["attempts"] > 1 for d in items)
    detail = (await org.api.get(f"/api/notifications/deliveries/{items[0]['id']}")).json()
    log = detail["attemptLog"]
    assert len(log) == detail["attempts"] and log[-1]["statusCode"] == 204
    assert all(a["statusCode"] == 503 and a["response"] == "receiver down" for a in log[:-1])
    await asyncio.sleep(0.5)
    assert len(hooks.received) == 5  # nothing twice


async def test_announcing_twice_delivers_once(org: Org, receiver: Served) -> None:
    channel = await webhook(org, receiver.url, events=["job.stuck", "schedule.missed"])
    for _ in range(3):
        await announce(
            org.stack.runtime,
            organization_id=org.organization_id,
            event="schedule.missed",
            job_id=None,
            payload={"scheduleId": "sch-1", "reason": "server down", "eventId": "sch-1@10:00"},
        )
    await receiver.receiver.wait_for(1)
    await settled(org, channel["id"], 1)
    await asyncio.sleep(0.5)
    assert len(receiver.receiver.received) == 1
    assert len(await deliveries(org, channel["id"])) == 1


async def test_redeliver_sends_the_same_message_again(org: Org, receiver: Served) -> None:
    channel = await webhook(org, receiver.url, events=["job.stuck"])
    await announce(
        org.stack.runtime,
        organization_id=org.organization_id,
        event="job.stuck",
        job_id=None,
        payload={"reason": "no progress for 14 min"},
    )
    [first] = await receiver.receiver.wait_for(1)
    [delivery] = await settled(org, channel["id"], 1)
    response = await org.api.post(f"/api/notifications/deliveries/{delivery['id']}/redeliver")
    assert response.status_code == 202, response.text
    got = await receiver.receiver.wait_for(2)
    assert got[1].msg_id == first.msg_id == delivery["id"]
    [again] = await settled(org, channel["id"], 1)
    assert again["attempts"] == 2


async def test_a_rotated_secret_signs_beside_the_old_one(org: Org, receiver: Served) -> None:
    channel = await webhook(org, receiver.url, events=["job.stuck"])
    rotated = (
        await org.api.post(f"/api/notifications/channels/{channel['id']}/rotate-secret")
    ).json()
    await announce(
        org.stack.runtime,
        organization_id=org.organization_id,
        event="job.stuck",
        job_id=None,
        payload={"reason": "x"},
    )
    [got] = await receiver.receiver.wait_for(1)
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    # A receiver holding only the old secret, and one holding only the new, both verify.
    for secret in (channel["secret"], rotated["secret"]):
        receiver.receiver.secrets = [secret]
        assert receiver.receiver.verify(got.body, got.headers) is True
    receiver.receiver.secrets = ["whsec_" + "A" * 44]
    assert receiver.receiver.verify(got.body, got.headers) is False


async def test_test_send_reports_what_the_receiver_said(org: Org, receiver: Served) -> None:
    channel = await webhook(org, receiver.url)
    receiver.receiver.secrets = [channel["secret"]]
    response = await org.api.post(f"/api/notifications/channels/{channel['id']}/test")
    assert response.status_code == 200, response.text
    assert response.json()["delivered"] is True and response.json()["statusCode"] == 204
    [got] = receiver.receiver.received
    assert got.verified and got.json["type"] == "test"
    receiver.receiver.down_until = time.monotonic() + 60
    failed = (await org.api.post(f"/api/notifications/channels/{channel['id']}/test")).json()
    assert failed["delivered"] is False and failed["statusCode"] == 503


async def test_a_rule_saved_after_a_quiet_announce_applies_at_once(
    org: Org, receiver: Served
) -> None:
    """An organization without rules is remembered as quiet (a job's end then costs no
    query); saving a rule through the API forgets that at once."""

    async def stuck(key: str) -> None:
        await announce(
            org.stack.runtime,
            organization_id=org.organization_id,
            event="job.stuck",
            job_id=None,
            payload={"eventId": key, "reason": key},
        )

    await stuck("before any rule")
    channel = await webhook(org, receiver.url, events=["job.stuck"])
    await stuck("after the rule")
    [got] = await receiver.receiver.wait_for(1)
    assert got.json["data"]["reason"] == "after the rule"
    await settled(org, channel["id"], 1)


async def test_the_address_is_checked_again_before_each_try(org: Org, receiver: Served) -> None:
    """Saved while 127.0.0.1 was allowed; a worker whose settings no longer allow it
    refuses the try for good (no retries) and says why in the log."""
    channel = await webhook(org, receiver.url, events=["job.stuck"])
    async with open_stack(
        org.stack, task_queue=f"tq-notify-{uuid.uuid4().hex[:8]}", notification_allowed_hosts=[]
    ) as strict:
        await announce(
            strict.runtime,
            organization_id=org.organization_id,
            event="job.stuck",
            job_id=None,
            payload={"reason": "x"},
        )
        [delivery] = await settled(org, channel["id"], 1)
    assert delivery["status"] == "failed" and delivery["attempts"] == 1
    assert "JOBDECK_NOTIFICATION_ALLOWED_HOSTS" in delivery["lastError"]
    assert receiver.receiver.tries == {}
