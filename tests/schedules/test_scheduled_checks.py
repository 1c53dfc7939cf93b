"""A schedule's run is checked when it fires, as POST /api/jobs checks a job, on the real
dev server: a run whose owner can no longer act, whose organization or owner is gone, or
whose job would be refused starts no job and is recorded as missed with the reason; a
run's job takes a concurrency slot like any job; a trigger draws from the job-creation rate
limit; the overlap policy applies to the run's job; a schedule made before the
scheduled-run workflow is moved to it."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections import Counter
from functools import partial
from typing import Any

import pytest
from sqlalchemy import update
from temporalio.client import (
    Client,
    DescribeScheduleInput,
    Interceptor,
    OutboundInterceptor,
    ScheduleActionStartWorkflow,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleUpdate,
    ScheduleUpdateInput,
    UpdateScheduleInput,
)

from jobdeck.activities.scheduled import (
    ORGANIZATION_GONE,
    OWNER_GONE,
    OWNER_REVOKED,
    SCHEDULED_RUN_WORKFLOW,
)
from jobdeck.clock import utcnow
from jobdeck.domain import JobSpec
from jobdeck.runtime import Runtime
from jobdeck.schedules.definition import ScheduleDefinition
from jobdeck.services.schedule_temporal import ACTION_VERSION, scheduled_run_action, temporal_id
from jobdeck.services.schedules import upgrade_actions
from jobdeck.store import schedules as schedule_store
from jobdeck.store.tables import Schedule
from tests.conftest import Stack, Tenant, new_tenant, open_stack
from tests.helpers import create_job, wait_for_job
from tests.schedules.test_schedules_api import (
    create,
    new_member,
    runs_of,
    wait_for_miss,
    wait_for_runs,
)
from tests.workflows.test_replay import record_history

SLOW = {"steps": 200, "step_seconds": 0.1}


def handle_of(stack: Stack, tenant: Tenant, schedule: dict[str, Any]) -> ScheduleHandle:
    return stack.runtime.temporal.get_schedule_handle(
        temporal_id(tenant.account.organization_id, schedule["id"])
    )


class CountingSchedules(Interceptor):
    """Counts the schedule calls a client makes to Temporal (describe, update)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        calls = self.calls

        class Outbound(OutboundInterceptor):
            async def describe_schedule(self, input: DescribeScheduleInput) -> ScheduleDescription:
                calls["describe"] += 1
                return await super().describe_schedule(input)

            async def update_schedule(self, input: UpdateScheduleInput) -> None:
                calls["update"] += 1
                await super().update_schedule(input)

        return Outbound(next)


def counting_runtime(stack: Stack) -> tuple[Runtime, Counter[str]]:
    """The stack's runtime with a client (on the same connection) that counts its
    schedule calls."""
    counter = CountingSchedules()
    config = stack.runtime.temporal.config()
    client = Client(**{**config, "interceptors": [*config["interceptors"], counter]})
    return dataclasses.replace(stack.runtime, temporal=client), counter.calls


async def action_version_of(stack: Stack, schedule_id: str) -> int:
    async with stack.db.read() as session:
        row = await session.get(Schedule, schedule_id, populate_existing=True)
        assert row is not None
        return row.action_version


async def set_action(handle: ScheduleHandle, action: ScheduleActionStartWorkflow) -> None:
    def updater(current: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule = current.description.schedule
        schedule.action = action
        return ScheduleUpdate(schedule)

    await handle.update(updater)


async def test_a_run_whose_owner_has_no_key_left_is_refused(stack: Stack, tenant: Tenant) -> None:
    member = await new_member(stack, tenant)
    async with stack.client(member.key) as api:
        schedule = await create(api, paused=True)
    revoked = await tenant.api.delete(f"/api/keys/{member.key_id}")
    assert revoked.status_code == 200, revoked.text
    handle = handle_of(stack, tenant, schedule)
    await handle.trigger()

    shown = await wait_for_miss(tenant.api, schedule["id"])
    (miss,) = shown["missed"]
    assert miss["reason"] == OWNER_REVOKED and miss["count"] == 1
    assert "revoked" in miss["message"]
    # The run is listed as refused, with the same words, and links to no job: it has none.
    (refused,) = shown["lastRuns"]
    assert refused["status"] == "refused" and refused["reason"] == OWNER_REVOKED
    assert refused["message"] == miss["message"]
    assert refused["jobId"] is None and refused["job"] is None
    assert refused["scheduledAt"] is not None
    (listed,) = (await tenant.api.get("/api/schedules")).json()["data"]
    assert listed["lastRuns"] == [refused]  # the list says so too (the schedules page)
    # Temporal fired it; no job started, and the run says why.
    (action,) = (await handle.describe()).info.recent_actions
    run = stack.runtime.temporal.get_workflow_handle(
        action.action.workflow_id,  # type: ignore[attr-defined]
        run_id=action.action.first_execution_run_id,  # type: ignore[attr-defined]
    )
    assert await run.result() == {"job_id": None, "refused": OWNER_REVOKED}
    await record_history(stack, run.id, "scheduled-run-refused", run_id=run.run_id)
    assert await runs_of(tenant.api, schedule["id"]) == []

    # With a key again, the owner's schedule runs: in their name.
    again = await tenant.api.post("/api/keys", json={"name": "back", "userId": member.user_id})
    assert again.status_code == 201, again.text
    await asyncio.sleep(1.1)  # the next firing in another second than the refused one
    await handle.trigger()
    (job,) = await wait_for_runs(tenant.api, schedule["id"], 1)
    assert job["owner"]["userId"] == member.user_id
    assert (await wait_for_job(tenant.api, job["id"]))["status"] == "completed"
    # The accepted run links its job; the refused one stays refused, and one miss.
    shown = (await tenant.api.get(f"/api/schedules/{schedule['id']}")).json()
    assert [(r["status"], r["jobId"], r["job"]) for r in shown["lastRuns"]] == [
        ("completed", job["id"], f"/api/jobs/{job['id']}"),
        ("refused", None, None),
    ]
    assert [r["reason"] for r in shown["lastRuns"]] == [None, OWNER_REVOKED]
    assert [m["reason"] for m in shown["missed"]] == [OWNER_REVOKED]


async def test_a_refused_run_is_recorded_once_however_often_its_check_is_retried(
    stack: Stack, tenant: Tenant
) -> None:
    # The check is an activity: an attempt that recorded the refusal and then died is
    # retried, and records the same firing (the same would-be job id) again.
    schedule = await create(tenant.api, paused=True)
    firings = ["run-a", "run-a", "run-b"]
    for job_id in firings:
        record = partial(
            schedule_store.record_refusal,
            schedule_id=schedule["id"],
            job_id=job_id,
            reason=OWNER_REVOKED,
            now=utcnow(),
        )
        miss = await stack.db.transact(record)
        assert miss is not None and miss.job_id == job_id
    async with stack.db.read() as session:
        misses = await schedule_store.list_misses(session, schedule_id=schedule["id"])
        refused = await schedule_store.refused_runs(
            session, schedule_ids=[schedule["id"]], job_ids=["run-a", "run-b", "run-c"]
        )
    assert sorted(m.job_id or "" for m in misses) == ["run-a", "run-b"]
    assert sorted(refused) == ["run-a", "run-b"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [({"user_id": "no-such-user"}, OWNER_GONE), ({"organization_id": "gone"}, ORGANIZATION_GONE)],
)
async def test_a_run_whose_owner_or_organization_is_gone_is_refused(
    stack: Stack, tenant: Tenant, change: dict[str, str], reason: str
) -> None:
    # Users and organizations are not deleted through jobdeck: the action is made to name
    # ones that do not exist, as a schedule outliving them would.
    schedule = await create(tenant.api, paused=True)
    handle = handle_of(stack, tenant, schedule)
    ids = {"organization_id": tenant.account.organization_id, "user_id": tenant.account.user_id}
    ids.update(change)
    async with stack.db.read() as session:
        row = await session.get(Schedule, schedule["id"])
    assert row is not None
    definition = ScheduleDefinition.from_json(row.definition)
    action = scheduled_run_action(
        stack.settings, schedule["id"], ids["organization_id"], ids["user_id"], definition
    )
    await set_action(handle, action)
    await handle.trigger()
    shown = await wait_for_miss(tenant.api, schedule["id"])
    assert [m["reason"] for m in shown["missed"]] == [reason]
    assert "no job was started" in shown["missed"][0]["message"]
    assert [(r["status"], r["reason"], r["job"]) for r in shown["lastRuns"]] == [
        ("refused", reason, None)
    ]
    assert await runs_of(tenant.api, schedule["id"]) == []


async def test_a_runs_job_waits_for_a_concurrency_slot(stack: Stack, tenant: Tenant) -> None:
    limits = await tenant.api.put("/api/limits", json={"activeJobs": 1})
    assert limits.status_code == 200, limits.text
    busy = await create_job(tenant.api, name="busy", data=SLOW)
    await wait_for_job(tenant.api, busy["id"], lambda j: j["status"] == "active")
    schedule = await create(tenant.api, paused=True)
    await handle_of(stack, tenant, schedule).trigger()
    (run,) = await wait_for_runs(tenant.api, schedule["id"], 1)
    waiting = await wait_for_job(
        tenant.api,
        run["id"],
        lambda j: (j["progress"] or {}).get("message") == "waiting for a slot (0 ahead)",
    )
    assert waiting["status"] == "pending"
    pending = (await tenant.api.get("/api/limits")).json()["pending"]
    assert [p["jobId"] for p in pending] == [run["id"]]
    await tenant.api.patch(f"/api/jobs/{busy['id']}/cancel")
    done = await wait_for_job(tenant.api, run["id"], within=60)
    assert done["status"] == "completed"


async def test_the_overlap_policy_applies_to_the_runs_job(stack: Stack, tenant: Tenant) -> None:
    # The scheduled-run workflow waits for its job: while the job runs, a firing under
    # `skip` is skipped; under `terminateOther` the running one's job ends cancelled.
    schedule = await create(
        tenant.api, paused=True, job={"type": "test-steps", "name": "slow", "data": SLOW}
    )
    handle = handle_of(stack, tenant, schedule)
    await handle.trigger()
    (first,) = await wait_for_runs(tenant.api, schedule["id"], 1)
    await wait_for_job(tenant.api, first["id"], lambda j: j["status"] == "active")
    await asyncio.sleep(1.1)
    await handle.trigger()
    for _ in range(50):
        if (await handle.describe()).info.num_actions_skipped_overlap == 1:
            break
        await asyncio.sleep(0.1)
    assert (await handle.describe()).info.num_actions_skipped_overlap == 1
    assert len(await runs_of(tenant.api, schedule["id"])) == 1

    updated = await tenant.api.put(
        f"/api/schedules/{schedule['id']}",
        json={
            "name": "slow",
            "job": {"type": "test-steps", "name": "slow", "data": SLOW},
            "cron": "30 2 * * *",
            "timezone": "Europe/Berlin",
            "overlap": "terminateOther",
        },
    )
    assert updated.status_code == 200, updated.text
    await handle.trigger()
    runs = await wait_for_runs(tenant.api, schedule["id"], 2)
    second = next(r for r in runs if r["id"] != first["id"])
    assert (await wait_for_job(tenant.api, first["id"], within=30))["status"] == "cancelled"
    await wait_for_job(tenant.api, second["id"], lambda j: j["status"] == "active")
    await tenant.api.patch(f"/api/jobs/{second['id']}/cancel")
    assert (await wait_for_job(tenant.api, second["id"], within=30))["status"] == "cancelled"


async def test_a_schedule_made_before_is_moved_to_the_checked_run(
    stack: Stack, tenant: Tenant
) -> None:
    schedule = await create(tenant.api, paused=True)
    handle = handle_of(stack, tenant, schedule)
    # The action a schedule got before: the job's own workflow, with an empty job id.
    legacy = ScheduleActionStartWorkflow(
        "test-steps",
        JobSpec(
            job_id="",
            organization_id=tenant.account.organization_id,
            user_id=tenant.account.user_id,
            type="test-steps",
            name="export",
            data={"steps": 1, "step_seconds": 0},
            schedule_id=schedule["id"],
        ),
        id=schedule["id"],
        task_queue=stack.settings.task_queue,
    )
    await set_action(handle, legacy)
    # A schedule created by this release is marked with its action's version, so a
    # worker's start does not ask about it; a row from before 0019 is not marked.
    assert await action_version_of(stack, schedule["id"]) == ACTION_VERSION
    async with stack.db.write() as session:
        await session.execute(
            update(Schedule).where(Schedule.id == schedule["id"]).values(action_version=0)
        )
    await handle.trigger()
    (old,) = await wait_for_runs(tenant.api, schedule["id"], 1)
    assert old["id"].startswith(schedule["id"] + "-")  # its workflow id, as before
    assert (await wait_for_job(tenant.api, old["id"]))["status"] == "completed"

    runtime, calls = counting_runtime(stack)
    first = await upgrade_actions(runtime)
    assert (first.asked, first.moved, first.failed) == (1, 1, 0)
    assert calls["update"] == 1  # the unmarked row alone, not every schedule there is
    action = (await handle.describe()).schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == SCHEDULED_RUN_WORKFLOW
    assert await action_version_of(stack, schedule["id"]) == ACTION_VERSION
    calls.clear()
    again = await upgrade_actions(runtime)  # once is enough: no Temporal call at all
    assert (again.asked, again.moved) == (0, 0) and sum(calls.values()) == 0

    # A row unmarked whose schedule has the current action already (a worker died between
    # moving it and marking it) is asked about once more, left as it is, and marked.
    async with stack.db.write() as session:
        await session.execute(
            update(Schedule).where(Schedule.id == schedule["id"]).values(action_version=0)
        )
    healed = await upgrade_actions(runtime)
    assert (healed.asked, healed.moved) == (1, 0) and calls["update"] == 1
    assert await action_version_of(stack, schedule["id"]) == ACTION_VERSION
    await asyncio.sleep(1.1)
    await handle.trigger()
    runs = await wait_for_runs(tenant.api, schedule["id"], 2)
    new = next(r for r in runs if r["id"] != old["id"])
    assert (await wait_for_job(tenant.api, new["id"]))["status"] == "completed"
    # Both kinds of run are listed with their jobs.
    shown = (await tenant.api.get(f"/api/schedules/{schedule['id']}")).json()
    assert {r["jobId"]: r["status"] for r in shown["lastRuns"]} == {
        old["id"]: "completed",
        new["id"]: "completed",
    }


async def test_a_trigger_draws_from_the_job_creation_rate_limit(stack: Stack) -> None:
    async with open_stack(
        stack,
        workers=False,
        task_queue=f"rl-{uuid.uuid4().hex[:8]}",
        rate_creates_per_minute_key=6.0,  # bursts of 2
    ) as limited:
        account = await new_tenant(limited)
        async with limited.client(account.key) as api:
            # No workers: its jobs stay pending, so allowAll, or the second is refused.
            schedule = await create(api, paused=True, overlap="allowAll")
            answers = [
                (await api.post(f"/api/schedules/{schedule['id']}/trigger")).status_code
                for _ in range(3)
            ]
            assert answers == [202, 202, 429]
            assert len(await runs_of(api, schedule["id"])) == 2
