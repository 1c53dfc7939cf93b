"""Job dependencies (POST /api/jobs dependsOn): the job stays pending, saying what it waits
for and holding no concurrency slot, until those jobs complete; one that fails or is
cancelled ends it cancelled with the reason. Against the real dev server, on SQLite and
(with JOBDECK_TEST_POSTGRES_URL) PostgreSQL."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType

from jobdeck.domain import EventKind, JobSpec, JobStatus
from jobdeck.services.jobs import _IDEMPOTENCY_NAMESPACE
from jobdeck.store import jobs as job_store
from jobdeck.store import limits as limit_store
from jobdeck.store.dependencies import MAX_DEPENDENCIES
from tests.conftest import Stack, Tenant, new_tenant, open_stack
from tests.helpers import create_job, events_of, wait_for_job
from tests.workflows.test_replay import record_history

QUICK = {"steps": 1, "step_seconds": 0}
# Long enough to be seen running and cancelled; cancelled well before it would end.
LONG = {"steps": 400, "step_seconds": 0.05}


def _waiting(job: dict[str, Any]) -> bool:
    message = (job.get("progress") or {}).get("message") or ""
    return job["status"] == "pending" and message.startswith("waiting for ")


async def _history(stack: Stack, job_id: str) -> list[Any]:
    history = await stack.runtime.temporal.get_workflow_handle(job_id).fetch_history()
    return list(history.events)


def _checks(events: list[Any]) -> int:
    """The dependency checks (local activities: marker events) in a workflow's history."""
    return sum(
        b"jobs.dependencies.check" in event.SerializeToString()
        for event in events
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    )


async def test_a_job_waits_for_its_dependencies_then_runs(stack: Stack, tenant: Tenant) -> None:
    done = await create_job(tenant.api, name="done first", data=QUICK)
    await wait_for_job(tenant.api, done["id"])
    slow = await create_job(tenant.api, name="slow one", data={"steps": 30, "step_seconds": 0.1})
    quick = await create_job(tenant.api, name="quick one", data={"steps": 2, "step_seconds": 0.05})
    ids = [slow["id"], quick["id"], done["id"]]

    job = await create_job(tenant.api, name="after them", data=QUICK, dependsOn=ids)
    assert job["status"] == "pending" and job["dependsOn"] == ids
    waiting = await wait_for_job(tenant.api, job["id"], _waiting)
    assert "slow one" in waiting["progress"]["message"]
    assert waiting["progress"]["stage"] == "waiting"
    assert (await tenant.api.get(f"/api/jobs/{job['id']}")).json()["dependsOn"] == ids
    # Waiting holds no concurrency slot: the job takes one once it may run.
    async with stack.db.read() as session:
        assert await limit_store.find_slot(session, job_id=job["id"]) is None

    ended = await wait_for_job(tenant.api, job["id"])
    assert ended["status"] == "completed", ended
    slow_done = await wait_for_job(tenant.api, slow["id"])
    quick_done = await wait_for_job(tenant.api, quick["id"])
    assert slow_done["status"] == quick_done["status"] == "completed"
    started = datetime.fromisoformat(ended["startedAt"])
    assert started >= datetime.fromisoformat(slow_done["finishedAt"])
    assert started >= datetime.fromisoformat(quick_done["finishedAt"])
    # Woken by the ending's signal, not by the 60 s recheck.
    assert (started - datetime.fromisoformat(slow_done["finishedAt"])).total_seconds() < 15
    events = await events_of(tenant.api, job["id"])
    said = [(e["kind"], (e["data"]["job"]["progress"] or {}).get("message") or "") for e in events]
    waited = [i for i, (_, m) in enumerate(said) if "waiting for" in m and "slow one" in m]
    assert waited and [k for k, _ in said].index("started") > waited[0], said
    # Its waiting message went once it could run.
    assert "waiting for" not in ((ended["progress"] or {}).get("message") or "")
    await record_history(stack, job["id"], "steps-depends-on-completed")

    # The dependency check is a step of this job's workflow alone: a job without
    # dependencies has none (the recorded histories of earlier code replay unchanged).
    assert _checks(await _history(stack, job["id"])) >= 1
    assert _checks(await _history(stack, done["id"])) == 0


async def test_a_failed_dependency_cancels_its_dependants_down_the_chain(
    tenant: Tenant,
) -> None:
    first = await create_job(tenant.api, name="first", data={"steps": 10, "step_seconds": 0.1})
    failing = await create_job(
        tenant.api, name="failing", data={"fail_permanently": True}, dependsOn=[first["id"]]
    )
    last = await create_job(tenant.api, name="last", data=QUICK, dependsOn=[failing["id"]])
    await wait_for_job(tenant.api, last["id"], _waiting)

    assert (await wait_for_job(tenant.api, first["id"]))["status"] == "completed"
    assert (await wait_for_job(tenant.api, failing["id"]))["status"] == "failed"
    ended = await wait_for_job(tenant.api, last["id"])
    assert ended["status"] == "cancelled"
    assert ended["startedAt"] is None and ended["attempts"] == 0
    assert ended["error"]["type"] == "DependencyFailed"
    assert ended["error"]["message"] == (
        f"job {failing['id']} (failing), which this job depends on, was failed"
    )
    kinds = [e["kind"] for e in await events_of(tenant.api, last["id"])]
    assert "started" not in kinds and kinds[-1] == "cancelled"


async def test_a_cancelled_dependency_cancels_its_dependant(stack: Stack, tenant: Tenant) -> None:
    long = await create_job(tenant.api, name="long", data=LONG)
    job = await create_job(tenant.api, name="waits", data=QUICK, dependsOn=[long["id"]])
    await wait_for_job(tenant.api, job["id"], _waiting)
    assert (await tenant.api.patch(f"/api/jobs/{long['id']}/cancel")).status_code == 202
    ended = await wait_for_job(tenant.api, job["id"])
    assert ended["status"] == "cancelled"
    assert ended["error"]["type"] == "DependencyCancelled"
    assert long["id"] in ended["error"]["message"] and "was cancelled" in ended["error"]["message"]
    await record_history(stack, job["id"], "steps-depends-on-cancelled")


async def test_cancelling_a_waiting_job_ends_it_at_once(tenant: Tenant) -> None:
    long = await create_job(tenant.api, name="long", data=LONG)
    job = await create_job(tenant.api, name="waits", data=QUICK, dependsOn=[long["id"]])
    await wait_for_job(tenant.api, job["id"], _waiting)
    asked = time.monotonic()
    assert (await tenant.api.patch(f"/api/jobs/{job['id']}/cancel")).status_code == 202
    ended = await wait_for_job(tenant.api, job["id"], within=10)
    assert time.monotonic() - asked < 10
    assert ended["status"] == "cancelled" and ended["error"] is None
    assert ended["startedAt"] is None
    # The job it waited for goes on.
    assert (await tenant.api.get(f"/api/jobs/{long['id']}")).json()["status"] in (
        "pending",
        "active",
    )
    await tenant.api.patch(f"/api/jobs/{long['id']}/cancel")


async def test_a_retry_of_a_cancelled_dependant_checks_its_dependencies_again(
    tenant: Tenant,
) -> None:
    dependency = await create_job(
        tenant.api, name="dependency", data={"steps": 20, "step_seconds": 0.1}
    )
    job = await create_job(tenant.api, name="dependant", data=QUICK, dependsOn=[dependency["id"]])
    await wait_for_job(tenant.api, job["id"], _waiting)
    await tenant.api.patch(f"/api/jobs/{dependency['id']}/cancel")
    assert (await wait_for_job(tenant.api, job["id"]))["status"] == "cancelled"

    # Its dependency is still cancelled: a retry could never start.
    refused = await tenant.api.post(f"/api/jobs/{job['id']}/retry")
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"dependsOn: job {dependency['id']} (dependency) is cancelled, so this job could "
        "never start; retry that job and depend on the retry"
    )
    # Once that job is retried, the retry waits for the new one.
    await wait_for_job(tenant.api, dependency["id"])
    again = (await tenant.api.post(f"/api/jobs/{dependency['id']}/retry")).json()
    retried = await tenant.api.post(f"/api/jobs/{job['id']}/retry")
    assert retried.status_code == 201, retried.text
    assert retried.json()["dependsOn"] == [again["id"]]
    assert retried.json()["retryOf"] == job["id"]
    ended = await wait_for_job(tenant.api, retried.json()["id"])
    assert ended["status"] == "completed"
    finished = (await tenant.api.get(f"/api/jobs/{again['id']}")).json()["finishedAt"]
    assert datetime.fromisoformat(ended["startedAt"]) >= datetime.fromisoformat(finished)


async def test_a_lost_signal_only_delays_the_dependant(stack: Stack) -> None:
    """A dependency that ends without signalling (here: its row changed by hand) is seen
    at the dependant's recheck."""
    async with open_stack(
        stack, task_queue=f"tq-{uuid.uuid4().hex[:8]}", dependency_recheck_s=0.5
    ) as quick_recheck:
        account = await new_tenant(quick_recheck)
        silent = JobSpec(
            job_id=str(uuid.uuid4()),
            organization_id=account.organization_id,
            user_id=account.user_id,
            type="test-steps",
            name="no workflow",
        )
        async with stack.db.write() as session:
            await job_store.insert_job(session, spec=silent, now=datetime.now(UTC))
        async with quick_recheck.client(account.key) as api:
            job = await create_job(api, name="waits", data=QUICK, dependsOn=[silent.job_id])
            await wait_for_job(api, job["id"], _waiting)
            async with stack.db.write() as session:
                await job_store.change_job(
                    session,
                    job_id=silent.job_id,
                    kind=EventKind.COMPLETED,
                    now=datetime.now(UTC),
                    values={"status": JobStatus.COMPLETED.value},
                )
            ended = await wait_for_job(api, job["id"], within=15)
            assert ended["status"] == "completed"


async def _refused(api: httpx.AsyncClient, depends_on: Any, **headers: str) -> httpx.Response:
    return await api.post(
        "/api/jobs",
        json={"type": "test-steps", "name": "x", "data": QUICK, "dependsOn": depends_on},
        headers=headers,
    )


async def test_bad_dependencies_are_refused_with_the_reason(stack: Stack, tenant: Tenant) -> None:
    api = tenant.api
    ok = await create_job(api, name="fine", data=QUICK)
    failed = await create_job(api, name="broken", data={"fail_permanently": True})
    await wait_for_job(api, failed["id"])
    cancelled = await create_job(api, name="stopped", data=LONG)
    await api.patch(f"/api/jobs/{cancelled['id']}/cancel")
    await wait_for_job(api, cancelled["id"])
    other = await new_tenant(stack)
    async with stack.client(other.key) as other_api:
        theirs = await create_job(other_api, name="theirs", data=QUICK)
    before = (await api.get("/api/jobs/stats")).json()["total"]

    unknown = str(uuid.uuid4())
    response = await _refused(api, [ok["id"], unknown])
    assert response.status_code == 422
    assert response.json()["detail"] == f"dependsOn: job {unknown} not found"
    # Another organization's job reads exactly like a missing one.
    response = await _refused(api, [theirs["id"]])
    assert response.status_code == 422
    assert response.json()["detail"] == f"dependsOn: job {theirs['id']} not found"

    response = await _refused(api, [ok["id"], ok["id"]])
    assert response.status_code == 422
    assert response.json()["detail"] == f"dependsOn: job {ok['id']} is listed twice"

    key = "depends-on-itself"
    itself = str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{other.organization_id}:{key}"))
    async with stack.client(other.key) as other_api:
        response = await _refused(other_api, [itself], **{"Idempotency-Key": key})
    assert response.status_code == 422
    assert response.json()["detail"] == "dependsOn: a job cannot depend on itself"

    response = await _refused(api, [str(uuid.uuid4()) for _ in range(MAX_DEPENDENCIES + 1)])
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "dependsOn"
    assert "at most 100 items" in response.json()["errors"][0]["message"]

    for wrong, field, says in [
        (ok["id"], "dependsOn", "valid list"),
        ([1], "dependsOn.0", "valid string"),
        ([""], "dependsOn.0", "at least 1 character"),
        ({"id": ok["id"]}, "dependsOn", "valid list"),
    ]:
        response = await _refused(api, wrong)
        assert response.status_code == 422, wrong
        assert response.json()["errors"][0]["field"] == field, response.json()
        assert says in response.json()["errors"][0]["message"], response.json()

    for ended, status in [(failed, "failed"), (cancelled, "cancelled")]:
        response = await _refused(api, [ok["id"], ended["id"]])
        assert response.status_code == 409
        assert response.json()["detail"] == (
            f"dependsOn: job {ended['id']} ({ended['name']}) is {status}, so this job could "
            "never start; retry that job and depend on the retry"
        )
    # Nothing refused was created.
    assert (await api.get("/api/jobs/stats")).json()["total"] == before


async def test_an_idempotent_replay_must_name_the_same_dependencies(tenant: Tenant) -> None:
    first = await create_job(tenant.api, name="first", data=QUICK)
    body = {"type": "test-steps", "name": "x", "data": QUICK, "dependsOn": [first["id"]]}
    headers = {"Idempotency-Key": "with-deps"}
    made = await tenant.api.post("/api/jobs", json=body, headers=headers)
    again = await tenant.api.post("/api/jobs", json=body, headers=headers)
    assert (made.status_code, again.status_code) == (201, 200)
    assert again.json()["dependsOn"] == [first["id"]]
    changed = await tenant.api.post("/api/jobs", json={**body, "dependsOn": []}, headers=headers)
    assert changed.status_code == 409
    await wait_for_job(tenant.api, made.json()["id"])
