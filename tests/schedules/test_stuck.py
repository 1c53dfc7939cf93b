"""Stuck-job alerts: the watchdog, on a real Temporal Schedule that the worker's start-up
call keeps, flags a job that stops reporting ("no progress for ..."), and clears it when
the job moves again; a job pending while workers idle is flagged too. Own database, so
the watchdog sees no other test's jobs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from jobdeck.clock import utcnow
from jobdeck.domain import JobSpec
from jobdeck.services.stuck import ensure_watchdog_schedule, watchdog_schedule_id
from jobdeck.store import jobs as job_store
from jobdeck.store.engine import Database
from jobdeck.store.migrate import upgrade_async
from jobdeck.store.tables import JobSlot
from tests.conftest import TEST_JOB_TYPES, Stack, make_settings, new_tenant, open_stack
from tests.helpers import events_of, wait_for_job


@pytest.fixture
async def watched(temporal_client: Client, tmp_path: Path) -> AsyncIterator[Stack]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'stuck.db'}"
    await upgrade_async(url)
    settings = make_settings(
        url,
        temporal_client,
        tmp_path,
        stuck_check_interval_s=1,
        stuck_after_s=2,
        stuck_pending_after_s=2,
    ).model_copy(update={"job_type_modules": [*TEST_JOB_TYPES, "tests.schedules.jobtypes"]})
    db = Database.connect(url)
    try:
        async with open_stack(settings=settings, temporal=temporal_client, db=db) as stack:
            schedule_id = await ensure_watchdog_schedule(stack.runtime, stack.registry)
            assert schedule_id == watchdog_schedule_id(settings.task_queue)
            # Idempotent: a second worker's start changes nothing.
            assert await ensure_watchdog_schedule(stack.runtime, stack.registry) == schedule_id
            try:
                yield stack
            finally:
                await temporal_client.get_schedule_handle(schedule_id).delete()
    finally:
        await db.dispose()


async def wait_for_event(api: Any, job_id: str, kind: str, within: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        found = [e for e in await events_of(api, job_id) if e["kind"] == kind]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no {kind} event in {within} s"
        await asyncio.sleep(0.2)


async def test_a_silent_job_is_flagged_stuck_and_cleared_when_it_moves(
    watched: Stack, tmp_path: Path
) -> None:
    account = await new_tenant(watched)
    wake = tmp_path / "wake"
    async with watched.client(account.key) as api:
        response = await api.post(
            "/api/jobs",
            json={"type": "test-silent", "name": "quiet", "data": {"wake_file": str(wake)}},
        )
        assert response.status_code == 201, response.text
        job_id = response.json()["id"]
        stuck = await wait_for_event(api, job_id, "stuck")
        assert stuck["data"]["reason"] == "no_progress"
        assert stuck["data"]["idleSeconds"] >= 2
        assert stuck["data"]["message"].startswith("no progress for ")
        # Flagged once, however many rounds see it quiet.
        await asyncio.sleep(2.5)
        kinds = [e["kind"] for e in await events_of(api, job_id)]
        assert kinds.count("stuck") == 1

        wake.touch()
        unstuck = await wait_for_event(api, job_id, "unstuck")
        assert unstuck["data"]["reason"] == "no_progress"
        assert unstuck["data"]["message"].startswith("moving again after ")
        done = await wait_for_job(api, job_id)
        assert done["status"] == "completed"


async def test_a_job_left_pending_while_workers_idle_is_flagged(watched: Stack) -> None:
    account = await new_tenant(watched)
    # Rows whose workflow never started (the lost-task case): pending for ever. One of
    # them waits in line for a concurrency slot, one for another job to complete (it
    # depends on it): held back on purpose, not stuck.
    lost, in_line, waiting = (
        JobSpec(
            job_id=f"{name}-{time.time_ns()}",
            organization_id=account.organization_id,
            user_id=account.user_id,
            type="test-steps",
            name=name,
            created_at=(utcnow() - timedelta(seconds=10)).isoformat(),
        )
        for name in ("lost", "in-line", "waiting")
    )
    waiting.depends_on = [lost.job_id]
    async with watched.db.write() as session:
        for spec in (lost, in_line, waiting):
            await job_store.insert_job(session, spec=spec, now=utcnow())
        session.add(
            JobSlot(
                job_id=in_line.job_id,
                organization_id=account.organization_id,
                job_type="test-steps",
                priority=3,
                state="waiting",
                requested_at=utcnow(),
            )
        )
    async with watched.client(account.key) as api:
        stuck = await wait_for_event(api, lost.job_id, "stuck")
        assert stuck["data"]["reason"] == "pending"
        assert "while workers are idle" in stuck["data"]["message"]
        # The same round saw them all; the one in line and the one waiting were left alone.
        assert "stuck" not in [e["kind"] for e in await events_of(api, in_line.job_id)]
        assert "stuck" not in [e["kind"] for e in await events_of(api, waiting.job_id)]


async def test_runs_skipped_for_overlap_are_recorded_as_missed_with_the_reason(
    watched: Stack,
) -> None:
    account = await new_tenant(watched)
    async with watched.client(account.key) as api:
        response = await api.post(
            "/api/schedules",
            json={
                "name": "too often",
                "job": {
                    "type": "test-steps",
                    "name": "slow",
                    "data": {"steps": 40, "step_seconds": 0.1},
                },
                "interval": 1,
                "overlap": "skip",
            },
        )
        assert response.status_code == 201, response.text
        schedule_id = response.json()["id"]
        deadline = time.monotonic() + 30
        while True:
            shown = (await api.get(f"/api/schedules/{schedule_id}")).json()
            if shown["missed"]:
                break
            assert time.monotonic() < deadline, f"no missed runs recorded: {shown['runs']}"
            await asyncio.sleep(0.3)
        await api.post(f"/api/schedules/{schedule_id}/pause", json={"note": "enough"})
        miss = shown["missed"][0]
        assert miss["reason"] == "overlap" and miss["count"] >= 1
        assert "overlap policy skipped" in miss["message"]
        assert shown["runs"]["skippedOverlap"] >= miss["count"]
        await api.delete(f"/api/schedules/{schedule_id}")
