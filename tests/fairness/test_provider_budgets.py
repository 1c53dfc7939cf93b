"""Provider budgets (issue 16): every process's calls to a provider share one budget of
requests and tokens a minute, kept in the app database or in Redis, and follow the
provider's own x-ratelimit-* headers; a 429 is waited out, not handed to the job.

Each test puts a provider's limiter (tests/fakes/rate_limited.py) in front of a fake
provider and calls it through two ProviderBudgets, each with its own database engine (or
Redis client), as two worker processes would. The fake counts what it had to refuse: a
budget that holds never makes it refuse."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import openai
import pytest
from pydantic import SecretStr

from jobdeck.config import Settings
from jobdeck.documents.embedding import open_embedder
from jobdeck.fairness.bucket import MILLI
from jobdeck.fairness.shared import SharedBuckets
from jobdeck.providers.budgets import Account, ProviderBudgets
from jobdeck.providers.headers import duration_s
from jobdeck.providers.transport import openai_client
from jobdeck.store.buckets import DatabaseBuckets
from jobdeck.store.engine import Database
from tests.conftest import Stack
from tests.fakes.chat_server import ChatFake
from tests.fakes.embeddings_server import create_embeddings_fake
from tests.fakes.rate_limited import RateLimited, go_duration
from tests.fakes.serving import serving

REDIS_URL = os.environ.get("JOBDECK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
Opener = Callable[[], Awaitable[SharedBuckets]]


@pytest.fixture(params=["database", "redis"])
async def open_buckets(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[Opener]:
    """Opens shared buckets as a new process would: its own engine or Redis client."""
    async with AsyncExitStack() as stack:

        async def opener() -> SharedBuckets:
            if request.param == "redis":
                from jobdeck.fairness.redis_buckets import RedisBuckets

                found: SharedBuckets = RedisBuckets(REDIS_URL)
            else:
                db = Database.connect(database_url)
                stack.push_async_callback(db.dispose)
                found = DatabaseBuckets(db)
            stack.push_async_callback(found.aclose)
            return found

        yield opener


def _settings(tmp_path: Path, url: str, **changes: Any) -> Settings:
    # A key of its own per test: the budget's buckets are keyed by it, so no test shares
    # another's (nor one left in the database by an earlier run).
    return Settings(
        environment="test",
        data_dir=tmp_path,
        openai_api_key=SecretStr(f"sk-{uuid.uuid4().hex}"),
        openai_base_url=f"{url}/v1",
        ollama_base_url=url,
        **changes,
    )


async def _workers(settings: Settings, opener: Opener, count: int = 2) -> list[ProviderBudgets]:
    return [ProviderBudgets(settings, await opener()) for _ in range(count)]


async def _chat_calls(
    settings: Settings,
    budgets: list[ProviderBudgets],
    calls: int,
    *,
    at_once: int = 4,
    prompt: str = "hello",
    max_tokens: int | None = None,
) -> list[str]:
    """`calls` chat completions spread over the workers, `at_once` in flight on each; the
    status each ended with ("ok", or the error's)."""
    clients = [openai_client(b, settings, max_retries=0) for b in budgets]
    gates = [asyncio.Semaphore(at_once) for _ in budgets]
    options = {} if max_tokens is None else {"max_tokens": max_tokens}

    async def one(i: int) -> str:
        async with gates[i % len(clients)]:
            try:
                await clients[i % len(clients)].chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], **options
                )
            except openai.APIStatusError as err:
                return str(err.status_code)
            return "ok"

    try:
        return list(await asyncio.gather(*(one(i) for i in range(calls))))
    finally:
        for client in clients:
            await client.close()


async def test_two_workers_share_one_budget_and_never_exceed_it(
    tmp_path: Path, open_buckets: Opener
) -> None:
    # 600 a minute with bursts of 10; the provider allows as much, and half a second more
    # of burst for the time a request spends between the budget and the provider.
    limiter = RateLimited(ChatFake().app(), rpm=600, burst_s=1.5, headers=False)
    async with serving(limiter) as url:
        budget = {"openai": {"rpm": 600, "burst_s": 1}}
        settings = _settings(tmp_path, url, provider_budgets=budget)
        started = time.monotonic()
        outcomes = await _chat_calls(settings, await _workers(settings, open_buckets), 40)
        elapsed = time.monotonic() - started
    assert outcomes == ["ok"] * 40
    assert limiter.refused == 0
    assert len(limiter.accepted) == 40
    # The budget bound them: 10 at once, then 10 a second.
    assert elapsed >= (40 - 10) / 10 * 0.9
    assert limiter.most_in_any(1.0) <= 10 + 10 + 5


async def test_a_429_is_waited_out_for_every_worker_and_never_reaches_the_caller(
    tmp_path: Path, open_buckets: Opener
) -> None:
    # A budget far above what the provider allows: the provider answers 429s (with
    # retry-after-ms), which the calls wait out and send again.
    limiter = RateLimited(ChatFake().app(), rpm=600, burst_s=0.5, headers=False)
    async with serving(limiter) as url:
        settings = _settings(tmp_path, url, provider_budgets={"openai": {"rpm": 60_000}})
        outcomes = await _chat_calls(settings, await _workers(settings, open_buckets), 30)
    assert outcomes == ["ok"] * 30
    assert limiter.refused > 0  # there were 429s: none reached a caller
    assert len(limiter.accepted) == 30


async def test_the_providers_headers_slow_calls_down_before_a_429(
    tmp_path: Path, open_buckets: Opener
) -> None:
    # No budget of jobdeck's own: the provider's x-ratelimit-* headers alone pace the
    # calls (120 a minute, a minute's worth at once, as OpenAI's limits are).
    limiter = RateLimited(ChatFake().app(), rpm=120, retry_after=False)
    async with serving(limiter) as url:
        settings = _settings(tmp_path, url)
        started = time.monotonic()
        outcomes = await _chat_calls(settings, await _workers(settings, open_buckets, 1), 124)
        elapsed = time.monotonic() - started
    assert outcomes == ["ok"] * 124  # no 429 reached a caller
    # The headers are read as each answer comes back, and four calls are in flight: one
    # sent before the answer that said "none left" may meet a 429 (seen once in a CI run
    # on a loaded machine, Redis variant), which is then waited out. Without the headers
    # every call past the 120th would.
    assert limiter.refused <= 3
    assert elapsed >= (124 - 120) / 2 * 0.9  # past the 120, two a second


async def test_tokens_a_minute_are_counted_before_the_call(
    tmp_path: Path, open_buckets: Opener
) -> None:
    # 240 characters (60 tokens) and max_tokens 20: 80 tokens a call, 1,000 a second.
    limiter = RateLimited(ChatFake().app(), rpm=60_000, tpm=60_000, burst_s=1.5, headers=False)
    async with serving(limiter) as url:
        budget = {"openai": {"tpm": 60_000, "burst_s": 1}}
        settings = _settings(tmp_path, url, provider_budgets=budget)
        started = time.monotonic()
        outcomes = await _chat_calls(
            settings, await _workers(settings, open_buckets), 30, prompt="x" * 240, max_tokens=20
        )
        elapsed = time.monotonic() - started
    assert outcomes == ["ok"] * 30
    assert limiter.refused == 0
    assert limiter.accepted_tokens == [80] * 30
    assert elapsed >= (30 * 80 - 1000) / 1000 * 0.9


async def test_tokens_an_answer_used_beyond_the_estimate_are_charged(
    tmp_path: Path, open_buckets: Opener
) -> None:
    async with serving(ChatFake().app()) as url:
        # 6 tokens a minute, 60 when full: slow enough that a second's refill is small.
        budget = {"openai": {"tpm": 6, "burst_s": 600}}
        settings = _settings(tmp_path, url, provider_budgets=budget)
        [worker] = await _workers(settings, open_buckets, 1)
        # "hi" is 1 token by the estimate; the fake reports 3 used ("hi", "echo: hi").
        assert await _chat_calls(settings, [worker], 1, prompt="hi") == ["ok"]
    assert settings.openai_api_key is not None and settings.openai_base_url is not None
    account = Account.of(
        "openai", settings.openai_base_url, settings.openai_api_key.get_secret_value()
    )
    _, tokens = worker.configured(account)
    assert tokens is not None
    level = (await worker.buckets.levels([tokens]))[tokens.key]
    assert tokens.capacity - 3 * MILLI <= level < tokens.capacity - 2 * MILLI


async def test_a_quota_429_is_handed_on_at_once(tmp_path: Path, open_buckets: Opener) -> None:
    fake = create_embeddings_fake(api_key="sk-quota")
    control = fake.state.control
    for _ in range(2):
        control.fail_next(
            429,
            {
                "error": {
                    "message": "You exceeded your quota",
                    "type": "insufficient_quota",
                    "param": None,
                    "code": "insufficient_quota",
                }
            },
            {"retry-after": "1"},
        )
    async with serving(fake) as url:
        settings = _settings(tmp_path, url).model_copy(
            update={"openai_api_key": SecretStr("sk-quota")}
        )
        [worker] = await _workers(settings, open_buckets, 1)
        client = openai_client(worker, settings, max_retries=0)
        try:
            with pytest.raises(openai.RateLimitError) as caught:
                await client.embeddings.create(model="text-embedding-3-small", input=["x"])
        finally:
            await client.close()
    assert caught.value.code == "insufficient_quota"
    assert len(control.requests) == 1  # waiting cannot help: not sent again


async def test_a_call_that_would_wait_too_long_gets_a_429_at_once(
    tmp_path: Path, open_buckets: Opener
) -> None:
    limiter = RateLimited(ChatFake().app(), rpm=600, headers=False)
    async with serving(limiter) as url:
        settings = _settings(
            tmp_path,
            url,
            provider_budgets={"openai": {"rpm": 6, "burst_s": 10}},  # one, then one in 10 s
            provider_budget_max_wait_s=0.5,
        )
        workers = await _workers(settings, open_buckets)
        started = time.monotonic()
        outcomes = await _chat_calls(settings, workers, 2, at_once=1)
        elapsed = time.monotonic() - started
    assert sorted(outcomes) == ["429", "ok"]
    assert len(limiter.accepted) == 1  # the refused call never reached the provider
    assert elapsed < 5


async def test_ollama_embeddings_share_their_own_budget(
    tmp_path: Path, open_buckets: Opener
) -> None:
    limiter = RateLimited(
        create_embeddings_fake(api_key="unused"),
        rpm=600,
        burst_s=1.5,
        headers=False,
        retry_after=False,
    )
    async with serving(limiter) as url:
        settings = _settings(
            tmp_path,
            url,
            embedding_batch_size=1,
            provider_budgets={"ollama": {"rpm": 600, "burst_s": 1}},
        )
        workers = await _workers(settings, open_buckets)
        embedders = [
            open_embedder(settings, "ollama", "all-minilm", budgets=workers[i % 2])
            for i in range(4)
        ]
        try:
            results = await asyncio.gather(
                *(e.embed([f"text {i} {j}" for j in range(8)]) for i, e in enumerate(embedders))
            )
        finally:
            for embedder in embedders:
                await embedder.aclose()
    assert [len(r) for r in results] == [8] * 4
    assert limiter.refused == 0
    assert len(limiter.accepted) == 32


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1h2m3.5s", 3723.5),
        ("7.66s", 7.66),
        ("2", 2.0),
        ("", None),
        ("soon", None),
        ("5x", None),
        ("1s garbage", None),
    ],
)
def test_reset_durations_as_openai_writes_them(text: str, seconds: float | None) -> None:
    found = duration_s(text)
    assert found == (pytest.approx(seconds) if seconds is not None else None)


def test_the_fake_writes_resets_as_openai_does() -> None:
    assert [go_duration(s) for s in (0.02, 1.0, 360.0, 7.5)] == ["20ms", "1s", "6m0s", "7.5s"]
    assert [duration_s(go_duration(s)) for s in (0.02, 360.0)] == [0.02, 360.0]


async def test_a_wait_inside_a_step_heartbeats(tmp_path: Path, open_buckets: Opener) -> None:
    """A step with a 30 s heartbeat timeout may wait a minute for its budget: it beats at
    least every 5 s meanwhile."""
    from temporalio import activity
    from temporalio.testing import ActivityEnvironment

    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    from jobdeck.activities.outage import beat_again

    settings = Settings(environment="test", data_dir=tmp_path)
    # As worker.py wires a worker's budgets: waiting beats the running step.
    budgets = ProviderBudgets(settings, await open_buckets(), sleep=sleep, keep_alive=beat_again)

    @activity.defn
    async def waiting_step() -> None:
        await budgets.wait(12.0)

    env = ActivityEnvironment()
    beats: list[tuple[Any, ...]] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    await env.run(waiting_step)
    assert slept == [5.0, 5.0, 2.0]
    assert len(beats) == 3


async def test_a_worker_wires_its_budgets_to_beat_the_running_step(stack: Stack) -> None:
    from jobdeck.activities.outage import beat_again

    assert stack.runtime.budgets.keep_alive is beat_again
