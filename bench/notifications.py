"""Notification deliveries: latency and delivery under failure.

    .venv/bin/python bench/notifications.py [--latency-events N] [--events M] [--fail-first K]

What runs, all in this process and on loopback: a Temporal dev server (the `temporal`
binary, tuned, in memory), a fresh SQLite app database in a temp folder, the jobdeck
worker (`build_workers`, the same code `jobdeck worker` runs), the API app (through
httpx's ASGI transport) to create the channel and rule, and a webhook receiver served by
uvicorn (tests/notifications/receiver.py) that checks every signature with the
`standardwebhooks` reference library. The worker and the receiver share one event loop,
so every figure includes that contention.

(1) Latency, event -> webhook received: N events (`job.stuck`, each its own occurrence)
    announced one every 50 ms with `announce(runtime, ...)` (the call the job-record
    activities and the stuck detector make); per event, the receiver's arrival time minus
    the time just before `announce` was called. Prints p50/p95/p99/max (goal: p95 < 2 s).
(2) Failures: M events announced by --callers concurrent callers (jobs ending at once),
    to a receiver that answers 503 to each message's first K tries (retry schedule
    0.5 s, 1 s, 2 s, ... with 20 % jitter: Svix's schedule scaled down). Waits for every
    delivery to end, then prints: delivered (goal: M), duplicates among accepted messages
    by webhook-id (goal: 0), bad signatures (goal: 0), and whether the log is complete
    (every delivery `delivered` with K+1 tries and one attempt row per try).

The machine may be shared: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jobdeck.admin import create_account  # noqa: E402
from jobdeck.api.app import create_app  # noqa: E402
from jobdeck.config import Settings  # noqa: E402
from jobdeck.devserver import SINGLE_NODE_ARGS, TUNING_ARGS, temporal_binary  # noqa: E402
from jobdeck.notifications.announce import announce  # noqa: E402
from jobdeck.registry import load_registry  # noqa: E402
from jobdeck.runtime import Runtime  # noqa: E402
from jobdeck.store.accounts import Role  # noqa: E402
from jobdeck.store.engine import Database  # noqa: E402
from jobdeck.store.migrate import upgrade_async  # noqa: E402
from jobdeck.store.tables import NotificationAttempt, NotificationDelivery  # noqa: E402
from jobdeck.worker import build_workers  # noqa: E402
from tests.fakes.serving import serving  # noqa: E402
from tests.notifications.receiver import Receiver  # noqa: E402


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def setup_channel(api: httpx.AsyncClient, url: str) -> dict[str, str]:
    response = await api.post(
        "/api/notifications/channels", json={"name": "bench", "kind": "webhook", "url": url}
    )
    response.raise_for_status()
    channel: dict[str, str] = response.json()
    response = await api.post(
        "/api/notifications/rules",
        json={"name": "all", "channelId": channel["id"], "events": ["job.stuck"]},
    )
    response.raise_for_status()
    return channel


async def latency(runtime: Runtime, api: httpx.AsyncClient, org: str, events: int) -> None:
    hooks = Receiver()
    async with serving(hooks) as base:
        channel = await setup_channel(api, f"{base}/latency")
        hooks.secrets = [channel["secret"]]
        sent: dict[str, float] = {}
        for i in range(events):
            key = f"lat-{i}"
            sent[key] = time.monotonic()
            await announce(
                runtime,
                organization_id=org,
                event="job.stuck",
                job_id=None,
                payload={"eventId": key, "jobName": key},
            )
            await asyncio.sleep(0.05)
        await hooks.wait_for(events, within=120)
        # (2) announces the same event: this channel must not take them.
        (await api.delete(f"/api/notifications/channels/{channel['id']}")).raise_for_status()
    took = [(r.at - sent[r.json["data"]["jobName"]]) * 1000 for r in hooks.received]
    bad = sum(1 for r in hooks.received if not r.verified)
    print(f"(1) latency event -> webhook received, {events} events, one every 50 ms:")
    print(
        f"    p50 {pct(took, 0.5):.0f} ms  p95 {pct(took, 0.95):.0f} ms  "
        f"p99 {pct(took, 0.99):.0f} ms  max {max(took):.0f} ms  mean {statistics.mean(took):.0f} ms"
    )
    print(f"    goal p95 < 2000 ms: {'within' if pct(took, 0.95) < 2000 else 'OVER'} (under load)")
    print(f"    bad signatures: {bad}")


async def failures(
    runtime: Runtime,
    api: httpx.AsyncClient,
    org: str,
    events: int,
    fail_first: int,
    callers: int,
) -> None:
    hooks = Receiver(fail_first=fail_first)
    async with serving(hooks) as base:
        channel = await setup_channel(api, f"{base}/failing")
        hooks.secrets = [channel["secret"]]
        started = time.monotonic()
        pending = iter(range(events))

        async def caller() -> None:
            for i in pending:
                await announce(
                    runtime,
                    organization_id=org,
                    event="job.stuck",
                    job_id=None,
                    payload={"eventId": f"fail-{i}", "jobName": f"fail-{i}"},
                )

        await asyncio.gather(*(caller() for _ in range(callers)))
        announced = time.monotonic() - started
        await hooks.wait_for(events, within=900)
        # Let a duplicate, if any were coming, arrive.
        await asyncio.sleep(3)
        wall = time.monotonic() - started
    ids = Counter(r.msg_id for r in hooks.received)
    duplicates = sum(n - 1 for n in ids.values())
    bad = sum(1 for r in hooks.received if not r.verified)
    async with runtime.db.read() as session:
        rows = (
            (
                await session.execute(
                    select(NotificationDelivery).where(
                        NotificationDelivery.channel_id == channel["id"]
                    )
                )
            )
            .scalars()
            .all()
        )
        tries = dict(
            (
                await session.execute(
                    select(NotificationAttempt.delivery_id, func.count())
                    .where(NotificationAttempt.delivery_id.in_([r.id for r in rows]))
                    .group_by(NotificationAttempt.delivery_id)
                )
            ).all()
        )
    complete = (
        len(rows) == events
        and all(r.status == "delivered" and r.attempts == fail_first + 1 for r in rows)
        and all(tries.get(r.id) == r.attempts for r in rows)
    )
    print(
        f"(2) {events} events ({callers} callers at once) to a receiver failing each "
        f"message's first {fail_first} tries:"
    )
    print(f"    announced in {announced:.1f} s; all delivered after {wall:.1f} s")
    print(
        f"    delivered {len(ids)} of {events}; duplicates {duplicates}; "
        f"bad signatures {bad}; tries seen by the receiver {sum(hooks.tries.values())}"
    )
    print(
        f"    log complete: {complete} ({len(rows)} deliveries, {sum(tries.values())} attempt rows)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency-events", type=int, default=200)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--fail-first", type=int, default=3)
    parser.add_argument("--callers", type=int, default=20, help="concurrent announcers in (2)")
    args = parser.parse_args()
    print(f"load average before: {load()}")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=[*SINGLE_NODE_ARGS, *TUNING_ARGS],
    )
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await upgrade_async(url)
        settings = Settings(
            data_dir=Path(tmp),
            database_url=url,
            temporal_namespace=env.client.namespace,
            task_queue=f"bench-{uuid.uuid4().hex[:6]}",
            temporal_search_attributes=False,
            notification_allowed_hosts=["127.0.0.1"],
            notification_retry_schedule_s=[0.5, 1, 2, 4, 8, 16],
            notification_retry_jitter=0.2,
            worker_max_concurrent_activities=200,
        )
        db = Database.connect(url)
        runtime = Runtime.of(settings, db, env.client)
        registry = load_registry()
        app = create_app(settings, temporal=env.client, registry=registry)
        try:
            async with AsyncExitStack() as stack:
                await stack.enter_async_context(app.router.lifespan_context(app))
                for worker in build_workers(runtime, registry):
                    await stack.enter_async_context(worker)
                account = await create_account(
                    db, organization="bench", email="b@example.com", name="b", role=Role.ADMIN
                )
                transport = httpx.ASGITransport(app=app)
                headers = {"Authorization": f"Bearer {account.key}"}
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://bench", headers=headers
                ) as api:
                    await latency(runtime, api, account.organization_id, args.latency_events)
                    await failures(
                        runtime,
                        api,
                        account.organization_id,
                        args.events,
                        args.fail_first,
                        args.callers,
                    )
        finally:
            await runtime.aclose()
            await db.dispose()
            await env.shutdown()
    print(f"load average after: {load()}")


if __name__ == "__main__":
    asyncio.run(main())
