"""A database outage while a map's llm items are being answered costs no provider call
twice and no item a try: every item's prompt reaches the provider exactly once, on its
first try, and the run completes with every result, in order.

The outage is test_database_outage.py's (connections refused, sessions cut), for OUTAGE_S,
taken down while the first CONCURRENCY calls are held at the provider (past their budget
draw, which is in the database), then let through:

- a map of CONCURRENCY items is one chunk, answered whole with the database down: its
  outcomes wait out the outage to be written, rather than failing the work call, whose
  next run would ask the whole chunk again;
- a map of 3 chunks: the rest of the first chunk's calls cannot draw their budget while the
  database is down, and wait (not counted as the item's tries) instead of failing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from jobdeck.admin import create_account
from jobdeck.store.accounts import Role
from jobdeck.store.engine import Database
from jobdeck.store.migrate import upgrade_async
from tests.conftest import Stack, drop_postgres_database, fresh_postgres_database, open_stack
from tests.fakes.chat_server import ChatFake
from tests.fakes.serving import serving
from tests.pipelines.helpers import run_to_end, save, start, steps_of
from tests.pipelines.test_map_faults import answered, map_items
from tests.services.test_database_outage import outage

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(300)]

OUTAGE_S = 20.0
CONCURRENCY = 5
CHUNK = 20  # the runner's chunk for calls out: max(4 x concurrency, 20)


class Held:
    """Holds every request to `app` until `release` is set, counting those that came."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.release = asyncio.Event()
        self.arrived = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.arrived += 1
            await self.release.wait()
        await self.app(scope, receive, send)


async def _until(condition: Any, within: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"{what} was not seen within {within:g} s")
        await asyncio.sleep(0.02)


@pytest.fixture
async def held_provider(stack: Stack) -> AsyncIterator[tuple[Stack, str, ChatFake, Held]]:
    """A stack on a PostgreSQL database of its own, which the test may take down, whose
    llm steps call a fake provider that holds calls until told."""
    if not stack.db.url.startswith("postgresql"):
        pytest.skip("the outage is PostgreSQL's (SQLite has no server to lose)")
    chat = ChatFake()
    held = Held(chat.app())
    url, name = await fresh_postgres_database()
    await upgrade_async(url)
    db = Database.connect(url)
    try:
        async with (
            serving(held) as provider_url,
            open_stack(
                stack,
                db=db,
                database_url=url,
                task_queue=f"outage-{uuid.uuid4().hex[:8]}",
                openai_base_url=f"{provider_url}/v1",
                openai_api_key=SecretStr(f"sk-{uuid.uuid4().hex[:8]}"),
            ) as own,
        ):
            yield own, name, chat, held
    finally:
        held.release.set()
        await db.dispose()
        await drop_postgres_database(name)


@pytest.mark.parametrize("items", [CONCURRENCY, 3 * CHUNK], ids=["one-chunk", "three-chunks"])
async def test_llm_items_answered_during_an_outage_are_not_asked_again(
    held_provider: tuple[Stack, str, ChatFake, Held], items: int
) -> None:
    stack, db_name, chat, held = held_provider
    rows = [f"row {i}" for i in range(items)]
    spec = {
        "steps": [
            {
                "id": "m",
                "kind": "map",
                "items": rows,
                "concurrency": CONCURRENCY,
                "step": {"kind": "llm", "model": "gpt-4o-mini", "prompt": "Summarise ${item}"},
            }
        ],
        "outputs": {"m": "${steps.m.output}"},
    }
    account = await create_account(
        stack.db, organization="outage", email="o@example.com", name="O", role=Role.ADMIN
    )
    async with stack.client(account.key) as api:
        pipeline = await save(api, "map-llm-outage", spec)
        run_id = (await start(api, pipeline["id"]))["id"]
        # The first chunk is read and its first calls are out: the database goes down
        # before any of them is answered.
        await _until(lambda: held.arrived >= CONCURRENCY, 60, "the first calls")
        async with outage(db_name):
            held.release.set()
            # The calls out are answered with the database down...
            await _until(lambda: len(chat.requests) >= CONCURRENCY, 30, "the calls answered")
            await asyncio.sleep(OUTAGE_S)
            # ...and no others: the next wait for their budget, the chunk's outcomes to be
            # written (neither fails the work call, nor an item).
            assert len(chat.requests) == CONCURRENCY, len(chat.requests)
        done = await run_to_end(api, run_id, within=120)
        assert done["status"] == "completed", done
        output = done["result"]["m"]
        assert (output["total"], output["succeeded"], output["failed"]) == (items, items, 0)
        assert [r["text"] for r in output["results"]] == [f"echo: Summarise {r}" for r in rows]
        # Each prompt answered once: the chunk answered during the outage was not redone.
        assert answered(chat) == Counter(f"Summarise {r}" for r in rows)
        step = (await steps_of(api, done["id"]))["m"]
        rows_of_map = await map_items(api, step["childJobId"])
        assert [i["status"] for i in rows_of_map] == ["succeeded"] * items
        # No item spent a try on the outage.
        assert all(i["result"]["attempts"] == 1 for i in rows_of_map), rows_of_map
