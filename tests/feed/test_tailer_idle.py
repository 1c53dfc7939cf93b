"""The tailer idles while nobody is subscribed (no watch of the database per commit, only
a move past the newest event now and then) and wakes on the first subscribe, serving it
every event committed after it subscribed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from jobdeck.events.hub import FeedEvent, FeedFilter, Hub
from jobdeck.events.tailer import SKIP_AHEAD_S, Tailer
from jobdeck.store import events as event_store
from tests.conftest import Stack, Tenant
from tests.helpers import create_job


class _CountedWatch:
    """The tailer's own watch, counting its waits (each one a round of stats or a LISTEN)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.waits = 0

    async def wait(self, woken: asyncio.Event) -> None:
        self.waits += 1
        await self.inner.wait(woken)

    async def close(self) -> None:
        await self.inner.close()


async def _newest(stack: Stack) -> int:
    async with stack.db.read() as session:
        return await event_store.newest_event_id(session)


async def _until(check: Callable[[], bool], *, within: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    for _ in range(100_000):
        if check():
            return True
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.005)
    return False


async def _next_for(queue: asyncio.Queue[FeedEvent], job_id: str) -> FeedEvent:
    async with asyncio.timeout(10):
        while True:
            event = await queue.get()
            if event.job_id == job_id:
                return event


async def test_the_tailer_idles_without_subscribers_and_wakes_on_the_first(
    stack: Stack, tenant: Tenant
) -> None:
    hub = Hub()
    tailer = Tailer(stack.db, hub, sqlite_interval_s=0.005)
    watch = _CountedWatch(tailer._watch)
    tailer._watch = watch  # type: ignore[assignment]
    await tailer.start_position()
    running = asyncio.create_task(tailer.run())
    try:
        # Nobody listens: commits are not watched, yet the position moves past them.
        for n in range(3):
            await create_job(tenant.api, name=f"unwatched {n}", data={"steps": 1})
        newest = await _newest(stack)
        assert await _until(lambda: hub.last_id >= newest, within=5)
        assert watch.waits == 0
        assert hub.published == 0

        # The first subscriber wakes it at once, not at the next skip-ahead, and a job
        # created right after subscribing reaches it.
        sub = hub.subscribe(tenant.account.organization_id, FeedFilter())
        assert await _until(lambda: watch.waits > 0, within=SKIP_AHEAD_S / 2)
        job = await create_job(tenant.api, name="watched", data={"steps": 1})
        created = await _next_for(sub.queue, job["id"])
        assert created.organization_id == tenant.account.organization_id

        # The last one gone, it idles again.
        hub.unsubscribe(sub)
        await asyncio.sleep(SKIP_AHEAD_S * 2)
        waits = watch.waits
        await create_job(tenant.api, name="unwatched again", data={"steps": 1})
        await asyncio.sleep(SKIP_AHEAD_S * 2)
        assert watch.waits == waits
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_a_subscriber_after_an_idle_spell_misses_nothing_committed_after_it(
    stack: Stack, tenant: Tenant
) -> None:
    """Subscribed while the tailer idles (between its skip-aheads): every event committed
    after the subscribe is published to it, in id order, once."""
    hub = Hub()
    tailer = Tailer(stack.db, hub)
    await tailer.start_position()
    running = asyncio.create_task(tailer.run())
    try:
        await create_job(tenant.api, name="before", data={"steps": 1})
        await asyncio.sleep(SKIP_AHEAD_S / 3)
        sub = hub.subscribe(tenant.account.organization_id, FeedFilter())
        seam = await _newest(stack)  # what a subscriber reads from the table (ws.py)
        jobs = [
            (await create_job(tenant.api, name=f"after {n}", data={"steps": 1}))["id"]
            for n in range(3)
        ]
        got: list[FeedEvent] = []
        async with asyncio.timeout(10):
            while not set(jobs) <= {e.job_id for e in got}:
                got.append(await sub.queue.get())
        last = got[-1].id
        async with stack.db.read() as session:
            committed = await event_store.events_after(session, after=seam, limit=1000)
        org = tenant.account.organization_id
        wanted = [e.id for e in committed if e.organization_id == org and e.id <= last]
        assert [e.id for e in got if e.id > seam] == wanted
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
