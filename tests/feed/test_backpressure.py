"""A slow client is cut off with a reason instead of slowing others or growing memory, and
a client whose `after` was pruned away is told so and gets a snapshot."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime

import pytest
from websockets.exceptions import ConnectionClosed

from jobdeck.clock import utcnow
from jobdeck.domain import EventKind
from jobdeck.events.hub import FeedEvent, FeedFilter, Hub
from jobdeck.events.retention import prune_once
from jobdeck.store import events as event_store
from jobdeck.store import jobs as job_store
from jobdeck.store.tables import JobEvent
from tests.conftest import Stack, Tenant
from tests.feed.conftest import open_feed, receive, receive_until
from tests.helpers import create_job, events_of, wait_for_job

BURST = 400
PADDING = "x" * 50_000  # big events fill the socket buffers quickly


def _small_socket(ws_url: str) -> socket.socket:
    """A client socket with a tiny receive buffer, so that not reading stalls the server's
    sends after kilobytes instead of megabytes."""
    host, port = ws_url.removeprefix("ws://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)
    sock.connect((host, int(port)))
    sock.setblocking(False)
    return sock


def _event(event_id: int, org: str = "org") -> FeedEvent:
    stored = JobEvent(
        id=event_id,
        job_id="j",
        organization_id=org,
        kind="progress",
        data={"job": {"type": "t", "status": "active"}},
        created_at=datetime.now(UTC),
    )
    return FeedEvent.of(stored)


def test_the_hub_marks_a_full_subscriber_and_keeps_feeding_the_others() -> None:
    async def scenario() -> None:
        hub = Hub(queue_size=3)
        slow = hub.subscribe("org", FeedFilter())
        fast = hub.subscribe("org", FeedFilter())
        elsewhere = hub.subscribe("other", FeedFilter())
        received = []
        for event_id in range(1, 11):
            hub.publish(_event(event_id))
            received.append((await fast.queue.get()).id)
        assert received == list(range(1, 11))
        assert slow.overflowed.is_set() and slow.queue.qsize() == 3
        assert not fast.overflowed.is_set()
        assert elsewhere.queue.empty()

    asyncio.run(scenario())


async def _burst(stack: Stack, job_id: str) -> None:
    for start in range(0, BURST, 50):
        async with stack.db.write() as session:
            for i in range(start, start + 50):
                await event_store.append_event(
                    session,
                    job=await job_store.get_job(
                        session,
                        organization_id=(
                            await job_store.find_job(session, job_id=job_id)
                        ).organization_id,  # type: ignore[union-attr]
                        job_id=job_id,
                    ),
                    kind=EventKind.MESSAGE,
                    now=utcnow(),
                    data={"message": f"{i} {PADDING}"},
                )


async def test_a_slow_client_is_cut_off_and_resumes_without_loss(
    stack: Stack, ws_url: str, tenant: Tenant
) -> None:
    job = await create_job(tenant.api, data={"steps": 1})
    await wait_for_job(tenant.api, job["id"])
    key = tenant.account.key
    feed = stack.app_transport.app.state.feed  # type: ignore[attr-defined]
    feed.hub.queue_size = 150  # connections opened from now on get small queues
    try:
        async with (
            open_feed(
                f"{ws_url}/ws/jobs", key, max_queue=1, compression=None, sock=_small_socket(ws_url)
            ) as slow,
            open_feed(f"{ws_url}/ws/jobs", key, compression=None) as fast,
        ):
            await receive_until(slow, lambda m: m["type"] == "ready")
            start = (await receive_until(fast, lambda m: m["type"] == "ready"))[-1]
            # The fast client reads throughout; the slow one reads nothing.
            reading = asyncio.create_task(
                receive_until(
                    fast,
                    lambda m: (
                        m["type"] == "event"
                        and m["event"]["data"].get("message", "").startswith(f"{BURST - 1} ")
                    ),
                    within=60,
                )
            )
            await _burst(stack, job["id"])
            fast_ids = [m["event"]["id"] for m in await reading if m["type"] == "event"]
            assert len(fast_ids) == BURST
            slow_ids: list[int] = []
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    message = await receive(slow)
                    if message["type"] == "heartbeat":
                        # Sent while the server's queue for it was idle (the tests' heartbeat
                        # is 0.5 s; on a loaded machine the burst can start later, or pause
                        # between its writes). A client never cut off ends in TimeoutError.
                        continue
                    assert message["type"] == "event", message
                    slow_ids.append(message["event"]["id"])
    finally:
        feed.hub.queue_size = stack.settings.ws_queue_size
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408
    resume_at = int(closed.value.rcvd.reason.rsplit("=", 1)[1])
    assert closed.value.rcvd.reason == f"too slow: reconnect with after={resume_at}"
    assert slow_ids and slow_ids[-1] == resume_at and len(slow_ids) < BURST
    async with open_feed(f"{ws_url}/ws/jobs?after={resume_at}", key) as again:
        rest = await receive_until(again, lambda m: m["type"] == "ready", within=30)
    slow_ids += [m["event"]["id"] for m in rest if m["type"] == "event"]
    assert slow_ids == fast_ids
    assert fast_ids[0] > start["lastEventId"]


async def test_a_resume_from_pruned_events_gets_a_reset_and_a_snapshot(
    stack: Stack, ws_url: str, tenant: Tenant
) -> None:
    job = await create_job(tenant.api, data={"steps": 1})
    await wait_for_job(tenant.api, job["id"])
    first = (await events_of(tenant.api, job["id"]))[0]["id"]
    running = await create_job(tenant.api, data={"steps": 400, "step_seconds": 0.05})
    await wait_for_job(tenant.api, running["id"], lambda j: j["status"] == "active")
    newest_before = (await events_of(tenant.api, running["id"]))[-1]["id"]
    # Retention of zero days: everything written so far is old enough to go.
    assert await prune_once(stack.db, retention_days=0) > 0
    async with open_feed(f"{ws_url}/ws/jobs?after={first}", tenant.account.key) as ws:
        reset = await receive(ws)
        snapshot = await receive(ws)
    assert reset["type"] == "reset" and "no longer kept" in reset["reason"]
    assert reset["oldestEventId"] == 0 or reset["oldestEventId"] > first + 1  # 0: none kept
    assert [j["id"] for j in snapshot["jobs"]] == [running["id"]]
    # The job rows themselves are never pruned.
    assert (await tenant.api.get(f"/api/jobs/{job['id']}")).json()["status"] == "completed"
    await tenant.api.patch(f"/api/jobs/{running['id']}/cancel")
    await wait_for_job(tenant.api, running["id"])
    # Ids are never reused after a prune, so `after` stays meaningful.
    assert all(e["id"] > newest_before for e in await events_of(tenant.api, running["id"]))
