"""A database outage while jobs wait on work of their own: a pipeline's map step of
transform items in the middle of its items, and jobs waiting on `dependsOn` (one whose
dependency ends during the outage, one whose dependency ends after it). Nothing is lost
or done twice: the map completes with every item's result once, and each dependant
starts as soon as its dependency's end is recorded (its signal, not the 60 s recheck).

The outage is test_database_outage.py's: connections refused and sessions cut, here for
OUTAGE_S, well past every bookkeeping call's first tries."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from jobdeck.admin import create_account
from jobdeck.store.accounts import Role
from jobdeck.store.engine import Database
from jobdeck.store.migrate import upgrade_async
from tests.conftest import Stack, drop_postgres_database, fresh_postgres_database, open_stack
from tests.helpers import create_job, events_of, wait_for_job
from tests.pipelines.helpers import save, start, steps_of
from tests.services.test_database_outage import outage

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(300)]

OUTAGE_S = 20.0
ITEMS = 60_000
# Far below the dependency recheck (60 s): a dependant that starts later missed its signal.
PROMPT_START_S = 15.0


@pytest.fixture
async def own_database(stack: Stack) -> AsyncIterator[Stack]:
    """A stack on a PostgreSQL database of its own, which the test may take down."""
    if not stack.db.url.startswith("postgresql"):
        pytest.skip("the outage is PostgreSQL's (SQLite has no server to lose)")
    url, name = await fresh_postgres_database()
    await upgrade_async(url)
    db = Database.connect(url)
    try:
        async with open_stack(
            stack, db=db, database_url=url, task_queue=f"outage-{uuid.uuid4().hex[:8]}"
        ) as own:
            own.db_name = name  # type: ignore[attr-defined]
            yield own
    finally:
        await db.dispose()
        await drop_postgres_database(name)


async def _api_key(stack: Stack) -> str:
    account = await create_account(
        stack.db, organization="outage", email="o@example.com", name="O", role=Role.ADMIN
    )
    return account.key


def _at(job: dict[str, Any], field: str) -> datetime:
    return datetime.fromisoformat(job[field].replace("Z", "+00:00"))


async def _map_mid_way(api: Any, run_id: str) -> tuple[str, dict[str, Any]]:
    """The map's child job, once some but not all of its items are done."""
    deadline = asyncio.get_running_loop().time() + 60
    while asyncio.get_running_loop().time() < deadline:
        map_id = (await steps_of(api, run_id)).get("m", {}).get("childJobId")
        if map_id:
            response = await api.get(f"/api/jobs/{map_id}")
            if response.status_code == 200:
                job: dict[str, Any] = response.json()
                if 0 < ((job.get("progress") or {}).get("current") or 0) < ITEMS:
                    return map_id, job
        await asyncio.sleep(0.05)
    raise AssertionError("the map was not seen mid-way")


async def _down(stack: Stack) -> datetime:
    """Take the database down for OUTAGE_S; returns a time just before it came back (no
    row can be written before it)."""
    async with outage(stack.db_name):  # type: ignore[attr-defined]
        await asyncio.sleep(OUTAGE_S)
        ending = datetime.now(UTC)
    return ending


async def test_a_transform_map_outlives_an_outage_mid_items(own_database: Stack) -> None:
    stack = own_database
    spec = {
        "inputs": {"rows": {"type": "array"}},
        "steps": [
            {
                "id": "m",
                "kind": "map",
                "items": "${inputs.rows}",
                "step": {
                    "kind": "transform",
                    "expression": "{i: i, twice: sum([n, n])}",
                    "input": {"i": "${index}", "n": "${item}"},
                },
            },
        ],
        "outputs": {"m": "${steps.m.output}"},
    }
    rows = list(range(ITEMS))
    async with stack.client(await _api_key(stack)) as api:
        pipeline = await save(api, "map-outage", spec)
        run = await start(api, pipeline["id"], {"rows": rows})
        map_id, mid = await _map_mid_way(api, run["id"])
        back = await _down(stack)
        done = await wait_for_job(api, run["id"], within=120)
        assert done["status"] == "completed", done
        assert mid["status"] != "completed"  # the outage met the map mid-way
        assert set(done["result"]["m"]) == {"$blob", "bytes"}  # large: in file storage
        output = (await api.get(f"/api/jobs/{run['id']}/steps/m/output")).json()
        assert (output["total"], output["succeeded"], output["failed"]) == (ITEMS, ITEMS, 0)
        assert output["results"] == [{"i": n, "twice": 2 * n} for n in rows]
        child = (await api.get(f"/api/jobs/{map_id}")).json()
        assert child["status"] == "completed" and child["attempts"] == 1, child
        assert _at(child, "finishedAt") >= back, child  # it was still running in the outage
        assert child["progress"]["current"] == ITEMS, child["progress"]
        counts = (await api.get(f"/api/jobs/{map_id}/items", params={"limit": 1})).json()
        found = counts["counts"]
        assert found["succeeded"] == ITEMS and sum(found.values()) == ITEMS, found
        kinds = [e["kind"] for e in await events_of(api, map_id)]
        assert kinds.count("completed") == 1 and "attempt_failed" not in kinds, kinds
        run_kinds = [e["kind"] for e in await events_of(api, run["id"])]
        assert run_kinds.count("completed") == 1, run_kinds
        assert (await steps_of(api, run["id"]))["m"]["status"] == "completed"


async def test_dependants_start_once_their_dependency_ends_across_an_outage(
    own_database: Stack,
) -> None:
    stack = own_database
    async with stack.client(await _api_key(stack)) as api:
        # Ends during the outage: its ending is recorded (and its dependant woken) after.
        short = await create_job(api, name="short", data={"steps": 20, "step_seconds": 0.25})
        # Ends well after the outage.
        long = await create_job(api, name="long", data={"steps": 160, "step_seconds": 0.25})
        after_short = await create_job(
            api, name="after short", data={"steps": 2}, dependsOn=[short["id"]]
        )
        after_both = await create_job(
            api, name="after both", data={"steps": 2}, dependsOn=[short["id"], long["id"]]
        )
        for job in (short, long):
            await wait_for_job(api, job["id"], lambda j: j["status"] == "active")
        for job in (after_short, after_both):
            waiting = await wait_for_job(api, job["id"], lambda j: bool(j.get("progress")))
            assert waiting["status"] == "pending", waiting
        back = await _down(stack)
        ended = {}
        for job in (short, long, after_short, after_both):
            ended[job["name"]] = await wait_for_job(api, job["id"], within=120)
        for name, job in ended.items():
            assert job["status"] == "completed", (name, job)
            assert job["attempts"] == 1, (name, job)
            kinds = [e["kind"] for e in await events_of(api, job["id"])]
            assert kinds.count("completed") == 1 and kinds.count("started") <= 1, (name, kinds)
        # Both dependencies ended after the outage began: the short one's ending is
        # recorded once the database is back, the long one's after that.
        assert _at(ended["short"], "finishedAt") >= back, ended["short"]
        assert _at(ended["long"], "finishedAt") > _at(ended["short"], "finishedAt")
        pairs = [("short", "after short"), ("long", "after both")]
        for dependency, dependant in pairs:
            first, then = ended[dependency], ended[dependant]
            assert _at(then, "startedAt") >= _at(first, "finishedAt"), (first, then)
            late = (_at(then, "startedAt") - _at(first, "finishedAt")).total_seconds()
            assert late < PROMPT_START_S, f"{dependant} started {late:.1f} s after {dependency}"
