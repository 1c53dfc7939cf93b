"""A provider answered, then the budgets' store went away (the database or Redis, cut
while the call was out): the caller gets its answer, which is paid for; the budget only
misses what it would have learnt from it (the provider's headers, the tokens used), with
a warning. Before the call, an unreachable store fails the call as an outage (nothing was
spent): a step waits that out (activities/outage.py)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from starlette.types import Receive, Scope, Send

from jobdeck.fairness.redis_buckets import RedisBuckets
from jobdeck.fairness.shared import SharedBuckets
from jobdeck.providers.budgets import ProviderBudgets
from jobdeck.providers.transport import openai_client
from jobdeck.store.buckets import DatabaseBuckets
from jobdeck.store.engine import Database, is_outage
from jobdeck.store.migrate import upgrade_async
from tests.conftest import POSTGRES_URL, drop_postgres_database, fresh_postgres_database
from tests.fairness.test_provider_budgets import REDIS_URL, _settings
from tests.fakes.chat_server import ChatFake
from tests.fakes.rate_limited import RateLimited
from tests.fakes.serving import serving
from tests.proxy import FreezingProxy


class CuttableProxy(FreezingProxy):
    def cut(self) -> None:
        """Drop every connection through it and refuse new ones: the store is gone."""
        assert self.server is not None
        self.server.close()
        for task in list(self.tasks):
            task.cancel()


@pytest.fixture(params=["redis", "postgres"])
async def store_behind_proxy(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[SharedBuckets, CuttableProxy]]:
    if request.param == "redis":
        upstream = make_url(REDIS_URL.replace("redis://", "postgresql://"))
        proxy = CuttableProxy(upstream.host or "127.0.0.1", upstream.port or 6379)
        async with proxy.running():
            buckets: SharedBuckets = RedisBuckets(f"redis://{proxy.address}/0")
            yield buckets, proxy
            await buckets.aclose()
        return
    if not POSTGRES_URL:
        if os.environ.get("JOBDECK_REQUIRE_POSTGRES") == "1":
            pytest.fail("JOBDECK_TEST_POSTGRES_URL is required")
        pytest.skip("JOBDECK_TEST_POSTGRES_URL is not set")
    url, name = await fresh_postgres_database()
    await upgrade_async(url)
    parsed = make_url(url)
    proxy = CuttableProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
    try:
        async with proxy.running():
            host, port = proxy.address.split(":")
            db = Database.connect(parsed.set(host=host, port=int(port)).render_as_string(False))
            buckets = DatabaseBuckets(db)
            yield buckets, proxy
            await db.dispose()
    finally:
        await drop_postgres_database(name)


async def test_an_answer_comes_back_when_the_store_goes_while_the_call_is_out(
    tmp_path: Path,
    store_behind_proxy: tuple[SharedBuckets, CuttableProxy],
    caplog: pytest.LogCaptureFixture,
) -> None:
    buckets, proxy = store_behind_proxy
    # The provider sends its x-ratelimit-* headers, and reports more tokens used than the
    # estimate drew: both would be written to the store after the answer.
    provider = RateLimited(ChatFake().app(), rpm=600, tpm=100_000)

    async def cut_then_answer(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            proxy.cut()
            await asyncio.sleep(0.2)  # the store's connections are gone before the answer
        await provider(scope, receive, send)

    async with serving(cut_then_answer) as url:
        budget: dict[str, Any] = {"openai": {"rpm": 600, "tpm": 100_000}}
        settings = _settings(tmp_path, url, provider_budgets=budget)
        client = openai_client(ProviderBudgets(settings, buckets), settings, max_retries=0)
        try:
            with caplog.at_level(logging.WARNING, logger="jobdeck.providers.transport"):
                answer = await client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                )
            assert answer.choices[0].message.content == "echo: hi"
            skipped = [r.getMessage() for r in caplog.records]
            assert any("store is unreachable" in m for m in skipped), skipped

            # The next call cannot draw from its budget: it fails unsent, as an outage (which
            # a step waits out and runs again).
            sent = len(provider.accepted)
            with pytest.raises(Exception) as failed:
                await client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "again"}]
                )
            assert is_outage(failed.value), repr(failed.value)
            assert len(provider.accepted) == sent
        finally:
            await client.close()
