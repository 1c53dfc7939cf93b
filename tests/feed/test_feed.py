"""The live feed over real WebSockets: order, resume without gap or duplicate, several API
processes, tenancy, authentication and origin checks, heartbeats."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import Stack, Tenant, new_tenant, open_stack
from tests.feed.conftest import ended, open_feed, receive, receive_until, serving
from tests.helpers import create_job, events_of, wait_for_job


def _events(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m["event"] for m in messages if m["type"] == "event"]


async def test_one_jobs_feed_starts_with_a_snapshot_and_delivers_in_order(
    ws_url: str, tenant: Tenant
) -> None:
    async with open_feed(f"{ws_url}/ws/jobs", tenant.account.key) as ws:
        baseline = (await receive_until(ws, lambda m: m["type"] == "ready"))[-1]["lastEventId"]
    job = await create_job(tenant.api, data={"steps": 6, "step_seconds": 0.05})
    url = f"{ws_url}/ws/jobs/{job['id']}?after={baseline}"
    async with open_feed(url, tenant.account.key) as ws:
        first = await receive(ws)
        assert first["type"] == "snapshot" and first["job"]["id"] == job["id"]
        messages = await receive_until(ws, ended(job["id"]))
    events = _events(messages)
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    kinds = [e["kind"] for e in events]
    assert kinds[:2] == ["created", "started"] and kinds[-1] == "completed"
    assert "progress" in kinds
    assert events[-1]["data"]["job"]["status"] == "completed"
    # Exactly what the table holds for that job.
    assert ids == [e["id"] for e in await events_of(tenant.api, job["id"])]


async def test_running_job_snapshot_carries_the_workflows_progress_query(
    ws_url: str, tenant: Tenant
) -> None:
    job = await create_job(tenant.api, data={"steps": 300, "step_seconds": 0.05})
    await wait_for_job(tenant.api, job["id"], lambda j: j["status"] == "active")
    async with open_feed(f"{ws_url}/ws/jobs/{job['id']}", tenant.account.key) as ws:
        snapshot = await receive(ws)
        ready = await receive(ws)
        assert snapshot["job"]["status"] == "active"
        assert snapshot["live"]["status"] == "active"
        assert ready["type"] == "ready" and ready["lastEventId"] > 0
        # Live from here: the next events are new ones.
        await tenant.api.patch(f"/api/jobs/{job['id']}/cancel")
        messages = await receive_until(ws, ended(job["id"]))
    assert all(e["id"] > ready["lastEventId"] for e in _events(messages))
    assert _events(messages)[-1]["kind"] == "cancelled"


async def test_a_client_that_drops_and_resumes_gets_exactly_every_event(
    ws_url: str, tenant: Tenant
) -> None:
    key = tenant.account.key
    async with open_feed(f"{ws_url}/ws/jobs", key) as ws:
        snapshot, ready = await receive(ws), await receive(ws)
    assert snapshot == {"type": "snapshot", "jobs": []}
    baseline = ready["lastEventId"]

    job = await create_job(tenant.api, data={"steps": 40, "step_seconds": 0.05})
    seen: list[dict[str, Any]] = []
    async with open_feed(f"{ws_url}/ws/jobs?after={baseline}", key) as ws:
        while len(seen) < 4:  # replayed events, `ready`, then live ones; no snapshot
            message = await receive(ws)
            assert message["type"] in ("event", "ready")
            if message["type"] == "event":
                seen.append(message["event"])
    await asyncio.sleep(0.5)  # events happen while the client is away
    async with open_feed(f"{ws_url}/ws/jobs?after={seen[-1]['id']}", key) as ws:
        seen += _events(await receive_until(ws, ended(job["id"])))
    stored = await events_of(tenant.api, job["id"])
    assert [e["id"] for e in seen] == [e["id"] for e in stored]


async def test_two_api_processes_both_deliver(stack: Stack, tenant: Tenant) -> None:
    async with (
        open_stack(stack, workers=False) as other,
        serving(other.app_transport.app) as other_url,  # type: ignore[arg-type]
    ):
        async with open_feed(f"{other_url}/ws/jobs", tenant.account.key) as ws:
            await receive_until(ws, lambda m: m["type"] == "ready")
            # Created through the first API process, seen live through the second.
            job = await create_job(tenant.api, data={"steps": 3, "step_seconds": 0.02})
            messages = await receive_until(ws, ended(job["id"]))
    assert [e["kind"] for e in _events(messages)][0] == "created"


async def test_another_organizations_events_never_arrive(
    stack: Stack, ws_url: str, tenant: Tenant
) -> None:
    outsider = await new_tenant(stack)
    async with open_feed(f"{ws_url}/ws/jobs", outsider.key) as ws:
        await receive_until(ws, lambda m: m["type"] == "ready")
        theirs = await create_job(tenant.api, data={"steps": 3, "step_seconds": 0.02})
        await wait_for_job(tenant.api, theirs["id"])
        async with stack.client(outsider.key) as api:
            mine = await create_job(api, data={"steps": 1})
        messages = await receive_until(ws, ended(mine["id"]))
    assert {e["jobId"] for e in _events(messages)} == {mine["id"]}
    # Nor can the outsider open the other organization's job feed.
    async with open_feed(f"{ws_url}/ws/jobs/{theirs['id']}", outsider.key) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404


@pytest.mark.parametrize("key", [None, "jd_nothere_secret", "garbage"])
async def test_a_missing_or_bad_key_is_refused(ws_url: str, key: str | None) -> None:
    async with open_feed(f"{ws_url}/ws/jobs", key) as ws:
        if key is None:  # a first message that is not an auth message
            await ws.send('{"type": "hello"}')
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws, within=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


async def test_browsers_authenticate_by_subprotocol_or_first_message(
    ws_url: str, tenant: Tenant
) -> None:
    key = tenant.account.key
    async with open_feed(
        f"{ws_url}/ws/jobs", None, subprotocols=["jobdeck", f"bearer.{key}"]
    ) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "jobdeck"
        assert (await receive(ws))["type"] == "snapshot"
    async with open_feed(f"{ws_url}/ws/jobs", None) as ws:
        await ws.send('{"type": "auth", "key": "' + key + '"}')
        assert (await receive(ws))["type"] == "snapshot"


async def test_a_foreign_origin_is_refused_and_the_own_origin_allowed(
    ws_url: str, tenant: Tenant
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with open_feed(f"{ws_url}/ws/jobs", tenant.account.key, origin="http://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    own = ws_url.replace("ws://", "http://")
    async with open_feed(f"{ws_url}/ws/jobs", tenant.account.key, origin=own) as ws:
        assert (await receive(ws))["type"] == "snapshot"


async def test_bad_after_is_refused_and_idle_feeds_get_heartbeats(
    ws_url: str, tenant: Tenant
) -> None:
    async with open_feed(f"{ws_url}/ws/jobs?after=yesterday", tenant.account.key) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    async with open_feed(f"{ws_url}/ws/jobs", tenant.account.key) as ws:
        ready = (await receive_until(ws, lambda m: m["type"] == "ready"))[-1]
        heartbeat = await receive(ws, within=3)
    assert heartbeat == {"type": "heartbeat", "lastEventId": ready["lastEventId"]}


async def test_feed_filters_by_type_and_job(ws_url: str, tenant: Tenant) -> None:
    key = tenant.account.key
    async with open_feed(f"{ws_url}/ws/jobs?type=bulk-operation", key) as ws:
        await receive_until(ws, lambda m: m["type"] == "ready")
        steps = await create_job(tenant.api, data={"steps": 1})
        await wait_for_job(tenant.api, steps["id"])
        bulk = await create_job(
            tenant.api,
            type="bulk-operation",
            name="b",
            data={"action": "cancel", "filter": {"ids": ["none"]}},
        )
        messages = await receive_until(ws, ended(bulk["id"]))
    assert {e["jobId"] for e in _events(messages)} == {bulk["id"]}
