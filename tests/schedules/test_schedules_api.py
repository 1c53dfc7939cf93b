"""Schedules on the real Temporal dev server: each one a Temporal Schedule whose runs are
ordinary jobs linked to it; pause, resume, trigger, backfill, update and delete; tenancy."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio.client import (
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleOverlapPolicy,
)
from temporalio.service import RPCError
from temporalio.worker import Replayer

from jobdeck.activities.scheduled import SCHEDULED_RUN_WORKFLOW
from jobdeck.clock import utcnow
from jobdeck.services.schedule_temporal import temporal_id
from jobdeck.store import accounts
from jobdeck.store.accounts import Role
from tests.conftest import Stack, Tenant, new_tenant
from tests.helpers import wait_for_job
from tests.jobtypes import StepsWorkflow
from tests.workflows.test_replay import record_history

QUICK = {"steps": 1, "step_seconds": 0}


def body(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "nightly export",
        "job": {"type": "test-steps", "name": "export", "data": QUICK},
        "cron": "30 2 * * *",
        "timezone": "Europe/Berlin",
    }
    return {**base, **changes}


async def create(api: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    response = await api.post("/api/schedules", json=body(**changes))
    assert response.status_code == 201, response.text
    schedule: dict[str, Any] = response.json()
    return schedule


async def runs_of(api: httpx.AsyncClient, schedule_id: str) -> list[dict[str, Any]]:
    response = await api.get("/api/jobs", params={"schedule": schedule_id})
    assert response.status_code == 200, response.text
    jobs: list[dict[str, Any]] = response.json()["data"]
    return jobs


async def wait_for_runs(
    api: httpx.AsyncClient, schedule_id: str, count: int, within: float = 30.0
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    while True:
        jobs = await runs_of(api, schedule_id)
        if len(jobs) >= count:
            return jobs
        assert time.monotonic() < deadline, f"{len(jobs)} of {count} runs after {within} s"
        await asyncio.sleep(0.1)


async def wait_for_miss(
    api: httpx.AsyncClient, schedule_id: str, count: int = 1, within: float = 30.0
) -> dict[str, Any]:
    """The schedule once it lists `count` missed runs."""
    deadline = time.monotonic() + within
    while True:
        shown: dict[str, Any] = (await api.get(f"/api/schedules/{schedule_id}")).json()
        if len(shown["missed"]) >= count:
            return shown
        assert time.monotonic() < deadline, f"{shown['missed']} after {within} s"
        await asyncio.sleep(0.1)


@dataclass
class Member:
    user_id: str
    key_id: str
    key: str


async def new_member(stack: Stack, tenant: Tenant, role: Role = Role.MEMBER) -> Member:
    """Another user of the tenant's organization, with an API key."""
    async with stack.db.write() as session:
        user = await accounts.create_user(
            session,
            organization_id=tenant.account.organization_id,
            email=f"member-{uuid.uuid4().hex[:8]}@example.com",
            name="Member",
            role=role,
            now=utcnow(),
        )
        key, plaintext = await accounts.create_api_key(
            session, user_id=user.id, name="member", now=utcnow()
        )
    return Member(user.id, key.id, plaintext)


async def test_a_schedule_shows_its_next_runs_and_defaults(stack: Stack, tenant: Tenant) -> None:
    schedule = await create(tenant.api)
    # One Temporal Schedule, its id tied to the organization's and the schedule's, with
    # the defaults: overlap skip, a 10-minute catch-up window.
    described = await stack.runtime.temporal.get_schedule_handle(
        temporal_id(tenant.account.organization_id, schedule["id"])
    ).describe()
    assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert described.schedule.policy.catchup_window == timedelta(minutes=10)
    assert described.schedule.spec.time_zone_name == "Europe/Berlin"
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    # Each run is the scheduled-run workflow, which checks the job and starts it.
    assert action.id == schedule["id"] and action.workflow == SCHEDULED_RUN_WORKFLOW
    assert action.task_queue == stack.settings.task_queue
    assert schedule["id"].startswith("sc") and len(schedule["id"]) == 15
    assert schedule["state"] == "active"
    assert schedule["overlap"] == "skip"
    assert schedule["catchupWindow"] == 600
    assert schedule["cronText"] == "At 02:30"
    assert schedule["links"]["jobs"] == f"/api/jobs?schedule={schedule['id']}"
    nexts = [datetime.fromisoformat(t) for t in schedule["nextRuns"]]
    assert len(nexts) == 5
    assert nexts == sorted(nexts) and nexts[0] > datetime.now(UTC)
    for when in nexts:  # 02:30 in Berlin, whatever the season
        local = when.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
        assert (local.hour, local.minute) in ((2, 30), (3, 0))

    listed = (await tenant.api.get("/api/schedules")).json()
    assert [s["id"] for s in listed["data"]] == [schedule["id"]]
    assert listed["data"][0]["nextRuns"] == schedule["nextRuns"]


async def test_trigger_fires_an_ordinary_job_linked_to_its_schedule(
    stack: Stack, tenant: Tenant
) -> None:
    schedule = await create(tenant.api, paused=True, note="only by hand")
    assert schedule["state"] == "paused" and schedule["note"] == "only by hand"
    response = await tenant.api.post(f"/api/schedules/{schedule['id']}/trigger")
    assert response.status_code == 202, response.text
    (run,) = await wait_for_runs(tenant.api, schedule["id"], 1)
    assert response.headers["Location"] == f"/api/jobs/{run['id']}"
    assert run["scheduleId"] == schedule["id"]
    assert run["type"] == "test-steps" and run["name"] == "export"
    done = await wait_for_job(tenant.api, run["id"])
    assert done["status"] == "completed"
    assert done["result"]["steps"] == 1
    history = await stack.runtime.temporal.get_workflow_handle(run["id"]).fetch_history()
    await Replayer(workflows=[StepsWorkflow]).replay_workflow(history)

    shown = (await tenant.api.get(f"/api/schedules/{schedule['id']}")).json()
    assert shown["runs"]["total"] == 0  # Temporal's count: a trigger does not go through it
    (last,) = shown["lastRuns"]
    assert last["jobId"] == run["id"] and last["status"] == "completed"
    assert last["job"] == f"/api/jobs/{run['id']}"
    assert last["startedAt"] is not None


async def test_concurrent_triggers_are_one_job_each(stack: Stack, tenant: Tenant) -> None:
    # Temporal makes one run of the triggers of one second; jobdeck's trigger does not
    # go through it, so five callers at once get five jobs under allowAll, each linked to
    # the schedule (the other policies: tests/schedules/test_trigger_overlap.py).
    schedule = await create(tenant.api, paused=True, overlap="allowAll")
    other = await new_member(stack, tenant)
    async with stack.client(other.key) as second:
        callers = [tenant.api, second] * 3
        fired = await asyncio.gather(
            *(api.post(f"/api/schedules/{schedule['id']}/trigger") for api in callers[:5])
        )
    assert [r.status_code for r in fired] == [202] * 5, [r.text for r in fired]
    locations = {r.headers["Location"] for r in fired}
    assert len(locations) == 5
    runs = await wait_for_runs(tenant.api, schedule["id"], 5)
    assert {f"/api/jobs/{run['id']}" for run in runs} == locations
    for run in runs:
        assert run["scheduleId"] == schedule["id"]
        assert (await wait_for_job(tenant.api, run["id"]))["status"] == "completed"
    shown = (await tenant.api.get(f"/api/schedules/{schedule['id']}")).json()
    assert {r["jobId"] for r in shown["lastRuns"]} == {run["id"] for run in runs}
    assert {r["status"] for r in shown["lastRuns"]} == {"completed"}


async def test_a_fired_run_is_its_own_job_with_its_time(stack: Stack, tenant: Tenant) -> None:
    # Fired by Temporal (not the trigger route): the scheduled-run workflow starts the
    # job under its own first run id, which Temporal's recent runs carry.
    schedule = await create(tenant.api, paused=True)
    handle = stack.runtime.temporal.get_schedule_handle(
        temporal_id(tenant.account.organization_id, schedule["id"])
    )
    await handle.trigger()
    (run,) = await wait_for_runs(tenant.api, schedule["id"], 1)
    assert run["scheduleId"] == schedule["id"] and run["name"] == "export"
    assert (await wait_for_job(tenant.api, run["id"]))["status"] == "completed"
    (action,) = (await handle.describe()).info.recent_actions
    assert isinstance(action.action, ScheduleActionExecutionStartWorkflow)
    assert action.action.first_execution_run_id == run["id"]
    assert action.action.workflow_id.startswith(schedule["id"] + "-")
    shown = (await tenant.api.get(f"/api/schedules/{schedule['id']}")).json()
    (last,) = shown["lastRuns"]
    assert last["jobId"] == run["id"] and last["status"] == "completed"
    assert last["scheduledAt"] is not None
    # The job's workflow runs under the organization's fairness key, like any job's.
    described = await stack.runtime.temporal.get_workflow_handle(run["id"]).describe()
    priority = described.raw_description.workflow_execution_info.priority
    assert priority.fairness_key == tenant.account.organization_id
    # Both histories replay on today's code.
    starter = stack.runtime.temporal.get_workflow_handle(
        action.action.workflow_id, run_id=action.action.first_execution_run_id
    )
    assert (await starter.result())["job_id"] == run["id"]
    await record_history(stack, starter.id, "scheduled-run-completed", run_id=starter.run_id)
    await Replayer(workflows=[StepsWorkflow]).replay_workflow(
        await stack.runtime.temporal.get_workflow_handle(run["id"]).fetch_history()
    )


async def test_a_scheduled_job_cancels_and_retries_like_any(tenant: Tenant) -> None:
    schedule = await create(
        tenant.api,
        paused=True,
        job={"type": "test-steps", "name": "slow", "data": {"steps": 200, "step_seconds": 0.1}},
    )
    await tenant.api.post(f"/api/schedules/{schedule['id']}/trigger")
    (run,) = await wait_for_runs(tenant.api, schedule["id"], 1)
    await wait_for_job(tenant.api, run["id"], lambda j: j["status"] == "active")
    response = await tenant.api.patch(f"/api/jobs/{run['id']}/cancel")
    assert response.status_code == 202, response.text
    cancelled = await wait_for_job(tenant.api, run["id"])
    assert cancelled["status"] == "cancelled"
    retried = await tenant.api.post(f"/api/jobs/{run['id']}/retry")
    assert retried.status_code == 201, retried.text
    assert retried.json()["retryOf"] == run["id"]
    await tenant.api.patch(f"/api/jobs/{retried.json()['id']}/cancel")


async def test_pause_and_resume_with_a_note(tenant: Tenant) -> None:
    schedule = await create(tenant.api)
    paused = await tenant.api.post(
        f"/api/schedules/{schedule['id']}/pause", json={"note": "maintenance window"}
    )
    assert paused.status_code == 200, paused.text
    assert paused.json()["state"] == "paused" and paused.json()["note"] == "maintenance window"
    resumed = await tenant.api.post(
        f"/api/schedules/{schedule['id']}/resume", json={"note": "back"}
    )
    assert resumed.json()["state"] == "active" and resumed.json()["note"] == "back"


async def test_an_interval_schedule_fires_by_itself_and_stops_after_its_runs(
    tenant: Tenant,
) -> None:
    schedule = await create(tenant.api, cron=None, interval=1, remainingRuns=2)
    assert schedule["interval"] == 1 and schedule["remainingRuns"] == 2
    runs = await wait_for_runs(tenant.api, schedule["id"], 2)
    await asyncio.sleep(2.5)  # no third run
    assert len(await runs_of(tenant.api, schedule["id"])) == 2
    for run in runs:
        assert (await wait_for_job(tenant.api, run["id"]))["status"] == "completed"
    shown = (await tenant.api.get(f"/api/schedules/{schedule['id']}")).json()
    assert shown["remainingRuns"] == 0 and shown["nextRuns"] == []


async def test_backfill_fires_the_runs_of_a_past_range(tenant: Tenant) -> None:
    schedule = await create(tenant.api, cron="0 * * * *", timezone="UTC", paused=True)
    end = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
    if end > datetime.now(UTC):
        end -= timedelta(hours=1)
    response = await tenant.api.post(
        f"/api/schedules/{schedule['id']}/backfill",
        json={"start": (end - timedelta(hours=3)).isoformat(), "end": end.isoformat()},
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"runs": 3}
    runs = await wait_for_runs(tenant.api, schedule["id"], 3)
    for run in runs:
        assert (await wait_for_job(tenant.api, run["id"]))["status"] == "completed"
    shown = (await tenant.api.get(f"/api/schedules/{schedule['id']}")).json()
    assert {r["jobId"] for r in shown["lastRuns"]} == {run["id"] for run in runs}
    hours = sorted(datetime.fromisoformat(r["scheduledAt"]) for r in shown["lastRuns"])
    assert hours == [(end - timedelta(hours=k)).replace(minute=0) for k in (2, 1, 0)]

    # The same range again: Temporal starts each hour's workflow a second time under the
    # same id; each is a job of its own, not the earlier run's job again.
    again = await tenant.api.post(
        f"/api/schedules/{schedule['id']}/backfill",
        json={"start": (end - timedelta(hours=3)).isoformat(), "end": end.isoformat()},
    )
    assert again.status_code == 202, again.text
    runs = await wait_for_runs(tenant.api, schedule["id"], 6)
    assert len({run["id"] for run in runs}) == 6
    for run in runs:
        assert (await wait_for_job(tenant.api, run["id"]))["status"] == "completed"


async def test_update_replaces_the_definition(tenant: Tenant) -> None:
    schedule = await create(tenant.api)
    response = await tenant.api.put(
        f"/api/schedules/{schedule['id']}",
        json=body(name="hourly", cron="@hourly", timezone="UTC", overlap="bufferOne"),
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["name"] == "hourly" and updated["cron"] == "0 * * * *"
    assert updated["overlap"] == "bufferOne" and updated["cronText"] == "Every hour"
    nexts = [datetime.fromisoformat(t) for t in updated["nextRuns"]]
    assert all(t.minute == 0 for t in nexts) and nexts[1] - nexts[0] == timedelta(hours=1)


async def test_delete_removes_the_temporal_schedule_and_keeps_the_jobs(
    stack: Stack, tenant: Tenant
) -> None:
    schedule = await create(tenant.api, paused=True)
    await tenant.api.post(f"/api/schedules/{schedule['id']}/trigger")
    (run,) = await wait_for_runs(tenant.api, schedule["id"], 1)
    response = await tenant.api.delete(f"/api/schedules/{schedule['id']}")
    assert response.status_code == 204, response.text
    assert (await tenant.api.get(f"/api/schedules/{schedule['id']}")).status_code == 404
    handle = stack.runtime.temporal.get_schedule_handle(
        temporal_id(tenant.account.organization_id, schedule["id"])
    )
    try:
        await handle.describe()
        raise AssertionError("the Temporal Schedule is still there")
    except RPCError:
        pass
    assert (await tenant.api.get(f"/api/jobs/{run['id']}")).status_code == 200


async def test_another_organization_sees_none_of_it(stack: Stack, tenant: Tenant) -> None:
    schedule = await create(tenant.api)
    other = await new_tenant(stack)
    async with stack.client(other.key) as api:
        assert (await api.get(f"/api/schedules/{schedule['id']}")).status_code == 404
        assert (await api.post(f"/api/schedules/{schedule['id']}/trigger")).status_code == 404
        assert (await api.delete(f"/api/schedules/{schedule['id']}")).status_code == 404
        assert (await api.get("/api/schedules")).json()["data"] == []


async def test_the_cron_preview_reads_the_cron_out(tenant: Tenant) -> None:
    response = await tenant.api.get(
        "/api/schedules/preview", params={"cron": "*/15 9-17 * * 1-5", "timezone": "Europe/Berlin"}
    )
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["text"].startswith("Every 15 minutes")
    assert "Monday through Friday" in preview["text"]
    assert len(preview["nextRuns"]) == 5
