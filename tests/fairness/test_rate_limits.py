"""API rate limits shared by two API servers (two apps, each with its own database
engine, over one database, served by uvicorn): job creation and uploads per key and per
organization answer 429 with Retry-After and RateLimit-* headers and create nothing;
live-feed sockets per key are capped (close 4429 with a reason)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest
from sqlalchemy import func, select
from websockets.exceptions import ConnectionClosed

from jobdeck.store.engine import Database
from jobdeck.store.tables import Dataset, Job
from tests.conftest import Stack, new_tenant, open_stack
from tests.feed.conftest import open_feed, receive, serving

LIMITS = {
    "rate_creates_per_minute_key": 6.0,  # bursts of 2 (20 s of it)
    "rate_creates_per_minute_org": 9.0,  # bursts of 3
    "rate_uploads_per_minute_key": 3.0,  # bursts of 1
    "ws_connections_per_key": 2,
}


@pytest.fixture
async def two_apis(stack: Stack) -> AsyncIterator[list[str]]:
    """Two API servers on one database, each with its own engine; no workers."""
    async with AsyncExitStack() as exit_stack:
        urls = []
        for _ in range(2):
            db = Database.connect(stack.settings.database_url)
            exit_stack.push_async_callback(db.dispose)
            api = await exit_stack.enter_async_context(
                open_stack(stack, db=db, workers=False, **LIMITS)
            )
            url = await exit_stack.enter_async_context(serving(api.app_transport.app))  # type: ignore[arg-type]
            urls.append(url.replace("ws://", "http://"))
        yield urls


def _client(url: str, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"})


async def _count(stack: Stack, table: type[Job] | type[Dataset], org: str) -> int:
    async with stack.db.read() as session:
        stmt = select(func.count()).select_from(table).where(table.organization_id == org)
        return int((await session.execute(stmt)).scalar_one())


async def _create(api: httpx.AsyncClient, name: str) -> httpx.Response:
    return await api.post("/api/jobs", json={"type": "test-steps", "name": name, "data": {}})


async def test_creations_past_the_key_limit_get_429_across_two_api_servers(
    stack: Stack, two_apis: list[str]
) -> None:
    account = await new_tenant(stack)
    async with _client(two_apis[0], account.key) as a, _client(two_apis[1], account.key) as b:
        first, second = await _create(a, "one"), await _create(b, "two")
        assert (first.status_code, second.status_code) == (201, 201)
        assert first.headers["RateLimit-Limit"] == "2"
        refused = await _create(a, "three")
        again = await _create(b, "four")
    assert (refused.status_code, again.status_code) == (429, 429)
    detail = refused.json()["detail"]
    assert detail.startswith("too many job creations per API key: the limit is 6 a minute")
    retry = int(refused.headers["Retry-After"])
    assert 1 <= retry <= 10
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["RateLimit-Limit"] == "2"
    assert int(refused.headers["RateLimit-Reset"]) == retry
    # Nothing half-created: exactly the two accepted jobs exist.
    assert await _count(stack, Job, account.organization_id) == 2


async def test_the_organization_limit_holds_over_its_keys(
    stack: Stack, two_apis: list[str]
) -> None:
    account = await new_tenant(stack)
    async with _client(two_apis[0], account.key) as a:
        made = await a.post("/api/keys", json={"name": "second key"})
        assert made.status_code == 201, made.text
        other_key = made.json()["key"]
        assert (await _create(a, "one")).status_code == 201
        assert (await _create(a, "two")).status_code == 201
    async with _client(two_apis[1], other_key) as b:
        assert (await _create(b, "three")).status_code == 201  # the org's third of 3
        refused = await _create(b, "four")
    assert refused.status_code == 429
    assert "job creations per organization" in refused.json()["detail"]
    assert await _count(stack, Job, account.organization_id) == 3


async def test_uploads_past_the_limit_get_429_and_store_nothing(
    stack: Stack, two_apis: list[str]
) -> None:
    account = await new_tenant(stack)
    files = {"file": ("rows.csv", b"q,a\nx,y\n", "text/csv")}
    async with _client(two_apis[0], account.key) as a, _client(two_apis[1], account.key) as b:
        assert (await a.post("/api/datasets", files=files)).status_code == 201
        refused = await b.post("/api/datasets", files=files)
    assert refused.status_code == 429
    assert "too many uploads per API key" in refused.json()["detail"]
    assert "Retry-After" in refused.headers
    assert await _count(stack, Dataset, account.organization_id) == 1


async def test_a_key_holds_at_most_its_cap_of_live_sockets_over_both_servers(
    stack: Stack, two_apis: list[str]
) -> None:
    account = await new_tenant(stack)
    ws = [url.replace("http://", "ws://") + "/ws/jobs" for url in two_apis]
    async with open_feed(ws[0], account.key) as one, open_feed(ws[1], account.key) as two:
        assert (await receive(one))["type"] in ("snapshot", "ready")
        assert (await receive(two))["type"] in ("snapshot", "ready")
        async with open_feed(ws[1], account.key) as three:
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await receive(three)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4429
        assert "too many live-feed connections for this API key (at most 2)" in (
            closed.value.rcvd.reason
        )
    # Closed sockets give their places back: the server frees a place as its handler ends,
    # a moment after the close handshake, so a socket opened at once may still meet the cap.
    for _ in range(50):
        try:
            async with open_feed(ws[0], account.key) as again:
                assert (await receive(again))["type"] in ("snapshot", "ready")
            break
        except ConnectionClosed as refused:
            assert refused.rcvd is not None and refused.rcvd.code == 4429
            await asyncio.sleep(0.1)
    else:
        raise AssertionError("the closed sockets' places were never given back")
