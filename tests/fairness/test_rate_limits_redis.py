"""The API's rate limits kept in Redis (JOBDECK_REDIS_URL) instead of the database: two
API servers, each with its own Redis client, draw from the same buckets; the database's
rate_buckets table stays untouched."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
import redis.asyncio as redis
from sqlalchemy import func, select

from jobdeck.fairness.redis_buckets import PREFIX
from jobdeck.store.engine import Database
from jobdeck.store.tables import Job, RateBucket
from tests.conftest import Stack, new_tenant, open_stack
from tests.fairness.test_rate_limits import LIMITS, _client, _count, _create
from tests.feed.conftest import serving

REDIS_URL = os.environ.get("JOBDECK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def two_redis_apis(stack: Stack) -> AsyncIterator[list[str]]:
    async with AsyncExitStack() as exit_stack:
        urls = []
        for _ in range(2):
            db = Database.connect(stack.settings.database_url)
            exit_stack.push_async_callback(db.dispose)
            api = await exit_stack.enter_async_context(
                open_stack(stack, db=db, workers=False, redis_url=REDIS_URL, **LIMITS)
            )
            url = await exit_stack.enter_async_context(serving(api.app_transport.app))  # type: ignore[arg-type]
            urls.append(url.replace("ws://", "http://"))
        yield urls


async def test_two_api_servers_share_their_limits_through_redis(
    stack: Stack, two_redis_apis: list[str]
) -> None:
    account = await new_tenant(stack)
    async with (
        _client(two_redis_apis[0], account.key) as a,
        _client(two_redis_apis[1], account.key) as b,
    ):
        first, second = await _create(a, "one"), await _create(b, "two")
        assert (first.status_code, second.status_code) == (201, 201)
        assert first.headers["RateLimit-Limit"] == "2"
        assert second.headers["RateLimit-Remaining"] == "0"
        refused = await _create(a, "three")
        limits = (await b.get("/api/limits")).json()
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("too many job creations per API key")
    assert 1 <= int(refused.headers["Retry-After"]) <= 10
    assert await _count(stack, Job, account.organization_id) == 2
    per_key = next(r for r in limits["rateLimits"] if r["name"] == "job creations per API key")
    assert per_key["remaining"] == 0
    # The buckets are in Redis, not in the database.
    async with stack.db.read() as session:
        rows = await session.execute(
            select(func.count()).where(RateBucket.key.like(f"%{account.organization_id}%"))
        )
        assert rows.scalar_one() == 0
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = await client.keys(f"{PREFIX}create:org:{account.organization_id}")
        ttl_ms = await client.pttl(keys[0])
    finally:
        await client.aclose()
    assert len(keys) == 1
    assert 0 < ttl_ms <= (20 + 1) * 1000  # gone once full again: 3 tokens at 9 a minute


async def test_the_redis_bucket_refills_with_time(stack: Stack, two_redis_apis: list[str]) -> None:
    account = await new_tenant(stack)
    async with _client(two_redis_apis[0], account.key) as a:
        assert [(await _create(a, f"job {i}")).status_code for i in range(3)] == [201, 201, 429]
        refused = await _create(a, "again")
        assert refused.status_code == 429
        # 6 a minute per key: a token every 10 s at most; Retry-After says when.
        wait = int(refused.headers["Retry-After"])
        assert 1 <= wait <= 10
        await asyncio.sleep(wait + 0.2)
        assert (await _create(a, "later")).status_code == 201


async def test_with_redis_unreachable_a_create_gets_503_and_nothing_is_created(
    stack: Stack,
) -> None:
    """The rate limits' store is down (nothing listens at JOBDECK_REDIS_URL): a create is
    answered 503 with Retry-After, as for a database outage, not 500; nothing is created."""
    from tests.fakes.serving import free_port

    account = await new_tenant(stack)
    async with AsyncExitStack() as exit_stack:
        db = Database.connect(stack.settings.database_url)
        exit_stack.push_async_callback(db.dispose)
        down = f"redis://127.0.0.1:{free_port()}/0"
        api = await exit_stack.enter_async_context(
            open_stack(stack, db=db, workers=False, redis_url=down, **LIMITS)
        )
        url = await exit_stack.enter_async_context(serving(api.app_transport.app))  # type: ignore[arg-type]
        async with _client(url.replace("ws://", "http://"), account.key) as client:
            refused = await _create(client, "one")
    assert refused.status_code == 503
    assert refused.json()["detail"] == "Redis is unreachable right now; try again shortly"
    assert refused.headers["Retry-After"] == "5"
    assert await _count(stack, Job, account.organization_id) == 0
