"""Provider budgets at saturation: several workers call one rate-limited provider as fast as
they can, through jobdeck's budgeted provider clients (jobdeck/providers); how much of the
budget they use, and how many 429s reach a caller.

    .venv/bin/python bench/provider_budget.py [--seconds 30] [--workers 4] [--concurrency 8]
        [--rpm 1200] [--tpm 0] [--burst-s 5] [--store database|redis] [--mode budget|headers]

The provider is tests/fakes/rate_limited.py in front of the fake chat server (uvicorn on
loopback): it enforces --rpm (and --tpm) as token buckets holding --burst-s seconds, one
second more of burst than the budget for the time a request spends between the budget and
the provider, and answers 429 past them. Each worker is a ProviderBudgets of its own with
its own database engine on one SQLite file (or its own Redis client, --store redis), as a
worker process would have, and runs --concurrency callers in a loop, each a chat
completion through the OpenAI SDK's client with max_retries=0 (the llm step's).

--mode budget sets JOBDECK_PROVIDER_BUDGETS to the provider's limits (no x-ratelimit-*
headers sent); --mode headers sets no budget, the provider sends OpenAI's headers (its
bucket then holds a minute, as OpenAI's do), and the calls pace themselves by them.

Prints the calls made, the 429s the provider answered (waited out inside the calls) and
those that reached a caller, and the share of the budget used: requests let through over
what the budget allowed in the run (a full bucket at the start plus the rate times the
run's length), of requests or of tokens, whichever binds. Goals (issue 16): no 429
reaches a caller, and >= 90% of the budget used.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


async def main(args: argparse.Namespace) -> None:
    import openai
    from pydantic import SecretStr

    from jobdeck.config import Settings
    from jobdeck.fairness.shared import SharedBuckets
    from jobdeck.providers.budgets import ProviderBudgets
    from jobdeck.providers.transport import openai_client
    from jobdeck.store.buckets import DatabaseBuckets
    from jobdeck.store.engine import Database
    from jobdeck.store.migrate import upgrade_async
    from tests.fakes.chat_server import ChatFake
    from tests.fakes.rate_limited import RateLimited
    from tests.fakes.serving import serving

    work = Path(tempfile.mkdtemp(prefix="bench-budget-"))
    database_url = f"sqlite+aiosqlite:///{work / 'jobdeck.db'}"
    await upgrade_async(database_url)
    headers = args.mode == "headers"
    provider_burst = 60.0 if headers else args.burst_s + 1.0
    limiter = RateLimited(
        ChatFake().app(),
        rpm=args.rpm,
        tpm=args.tpm or None,
        burst_s=provider_burst,
        headers=headers,
    )
    budget: dict[str, float] = {"rpm": args.rpm, "burst_s": args.burst_s}
    if args.tpm:
        budget["tpm"] = args.tpm
    closers = []
    async with serving(limiter) as url:
        settings = Settings(
            data_dir=work,
            database_url=database_url,
            openai_api_key=SecretStr(f"sk-bench-{uuid.uuid4().hex}"),
            openai_base_url=f"{url}/v1",
            provider_budgets={} if headers else {"openai": budget},
        )
        workers = []
        for _ in range(args.workers):
            shared: SharedBuckets
            if args.store == "redis":
                from jobdeck.fairness.redis_buckets import RedisBuckets

                shared = RedisBuckets(args.redis_url)
            else:
                db = Database.connect(database_url)
                closers.append(db.dispose)
                shared = DatabaseBuckets(db)
            closers.append(shared.aclose)
            workers.append(ProviderBudgets(settings, shared))
        clients = [openai_client(w, settings, max_retries=0) for w in workers]
        reached: list[int] = []
        done: list[float] = []
        stop_at = time.monotonic() + args.seconds
        prompt = "x" * (4 * args.prompt_tokens)

        async def caller(client: openai.AsyncOpenAI) -> None:
            while time.monotonic() < stop_at:
                try:
                    await client.chat.completions.create(
                        model="gpt-4o-mini",
                        messages=[{"role": "user", "content": prompt}],
                        max_tokens=args.max_tokens,
                    )
                    done.append(time.monotonic())
                except openai.APIStatusError as err:
                    reached.append(err.status_code)

        started = time.monotonic()
        await asyncio.gather(
            *(caller(c) for c in clients for _ in range(args.concurrency)), return_exceptions=False
        )
        first = limiter.accepted[0] if limiter.accepted else started
        last = limiter.accepted[-1] if limiter.accepted else started
        for client in clients:
            await client.close()
    for close in reversed(closers):
        await close()

    span = max(1e-9, last - first)
    rate = args.rpm / 60
    capacity = rate * (provider_burst - 1.0 if not headers else 60.0)
    allowed = capacity + rate * span
    used = len(limiter.accepted) / allowed
    print(
        f"{args.workers} workers x {args.concurrency} callers, {args.seconds:g} s, "
        f"mode {args.mode}, store {args.store}, load average {os.getloadavg()[0]:.2f}"
    )
    print(f"budget: {args.rpm:g} requests a minute, bursts of {capacity:.0f}")
    print(f"calls completed: {len(done)}; provider let through: {len(limiter.accepted)}")
    print(f"429s the provider answered (waited out): {limiter.refused}")
    print(f"429s that reached a caller: {len(reached)} {sorted(set(reached)) or ''}")
    print(f"requests a minute achieved: {len(limiter.accepted) / span * 60:.0f}")
    print(f"budget used: {used:.1%} of {allowed:.0f} allowed over {span:.1f} s")
    if args.tpm:
        tokens = sum(limiter.accepted_tokens)
        token_allowed = args.tpm / 60 * (args.burst_s + span)
        print(f"tokens used: {tokens / token_allowed:.1%} of {token_allowed:.0f} allowed")
        used = max(used, tokens / token_allowed)  # whichever limit binds
    goals = len(reached) == 0 and used >= 0.9
    print(f"goals (no 429 reaches a caller, >= 90% used): {'MET' if goals else 'NOT MET'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8, help="callers per worker")
    parser.add_argument("--rpm", type=float, default=1200.0)
    parser.add_argument("--tpm", type=float, default=0.0, help="0: no tokens limit")
    parser.add_argument("--burst-s", type=float, default=5.0)
    parser.add_argument("--prompt-tokens", type=int, default=50)
    parser.add_argument("--max-tokens", type=int, default=20)
    parser.add_argument("--store", choices=["database", "redis"], default="database")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--mode", choices=["budget", "headers"], default="budget")
    asyncio.run(main(parser.parse_args()))
