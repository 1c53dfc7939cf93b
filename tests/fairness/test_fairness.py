"""Fairness between organizations on the real dev server: each job's tasks carry its
organization as their Temporal fairness key (matching.enableFairness), so one
organization's backlog does not hold another's jobs behind it, and priority still orders
work within an organization."""

from __future__ import annotations

from datetime import datetime

import pytest

from jobdeck.store import jobs as job_store
from tests.conftest import Stack, new_tenant
from tests.fairness.conftest import flood
from tests.helpers import create_job, wait_for_job

STEP = {"steps": 1, "step_seconds": 0.05}
# A's jobs are slow enough (two slots: 75 s for the 300) that its backlog cannot drain
# while the flood is still being created, however fast the machine.
SLOW_STEP = {"steps": 1, "step_seconds": 0.5}
# The flood: bench/fairness.py floods with 1,000; here fewer keep the test's time (one
# SQLite file takes every job's writes) within reason while a backlog still forms.
COUNT = 300


async def _started(stack: Stack, job_ids: list[str]) -> list[datetime]:
    async with stack.db.read() as session:
        found = [await job_store.find_job(session, job_id=i) for i in job_ids]
    return [j.started_at for j in found if j is not None and j.started_at is not None]


@pytest.mark.timeout(300)
async def test_one_job_of_another_organization_overtakes_a_thousand_queued_jobs(
    small_stack: Stack,
) -> None:
    flooder, other = await new_tenant(small_stack), await new_tenant(small_stack)
    async with small_stack.client(flooder.key) as a, small_stack.client(other.key) as b:
        queued = await flood(a, COUNT, data=SLOW_STEP)
        # A's backlog is there: most of its jobs have not started.
        waiting = COUNT - len(await _started(small_stack, [j["id"] for j in queued]))
        assert waiting > COUNT // 2, waiting
        job = await create_job(b, name="other org", data=STEP)
        created = datetime.fromisoformat(job["createdAt"])
        done = await wait_for_job(b, job["id"], within=60)
        assert done["status"] == "completed"
        started = datetime.fromisoformat(done["startedAt"])
        a_started = await _started(small_stack, [j["id"] for j in queued])
    overtaken_by = [t for t in a_started if created <= t < started]
    # Without fairness it would start after all of A's queued jobs; with it, after about
    # one task per organization in turn (two worker slots), plus what A's jobs run while
    # B's workflow does its own bookkeeping steps (slower on a loaded machine).
    assert len(overtaken_by) <= 10, (len(overtaken_by), len(a_started))
    # And B did not wait for A's backlog to drain: some of A's jobs had still not started
    # when B's had finished (how many depends on the machine's load, so only "some").
    assert len(a_started) < COUNT


@pytest.mark.timeout(300)
async def test_priority_still_orders_jobs_within_an_organization(small_stack: Stack) -> None:
    flooder = await new_tenant(small_stack)
    async with small_stack.client(flooder.key) as a:
        queued = await flood(a, 100, data=SLOW_STEP, priority=4)
        urgent = await create_job(a, name="urgent", data=STEP, priority=1)
        created = datetime.fromisoformat(urgent["createdAt"])
        done = await wait_for_job(a, urgent["id"], within=60)
        started = datetime.fromisoformat(done["startedAt"])
        a_started = await _started(small_stack, [j["id"] for j in queued])
    # It starts before the bulk of the queue it joined last (the few that start first run
    # while its workflow does its bookkeeping steps).
    assert len([t for t in a_started if created <= t < started]) <= 15
    assert len(a_started) < 60
