"""Step kinds that wait on the world: child jobs (their own rows, progress, cancel),
approvals (approve, reject, timeout with a default decision), and a run's pinned
version; reruns from a step reuse what came before it."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import Tenant
from tests.helpers import wait_for_job
from tests.pipelines.helpers import run_to_end, save, start, steps_of, wait_for_step

CHILD: dict[str, Any] = {
    "inputs": {"steps": {"type": "integer", "default": 3}},
    "steps": [
        {
            "id": "work",
            "kind": "job",
            "jobType": "test-steps",
            "data": {"steps": "${inputs.steps}", "step_seconds": 0.01},
        },
        {
            "id": "summary",
            "kind": "transform",
            "expression": "steps",
            "input": "${steps.work.output}",
        },
    ],
    "outputs": {"done": "${steps.summary.output}"},
}


async def test_a_job_step_is_a_child_job_with_its_own_row(tenant: Tenant) -> None:
    api = tenant.api
    pipeline = await save(api, "child", CHILD)
    run = await start(api, pipeline["id"], {"steps": 4})
    done = await run_to_end(api, run["id"])
    assert done["status"] == "completed", done
    assert done["result"] == {"done": 4}
    children = (await api.get("/api/jobs", params={"parent": run["id"]})).json()["data"]
    assert len(children) == 1
    child = children[0]
    assert child["type"] == "test-steps" and child["status"] == "completed"
    assert child["parentId"] == run["id"] and child["data"]["steps"] == 4
    assert child["progress"]["current"] == 4  # its own progress
    assert child["name"] == f"{run['name']} / work"
    steps = await steps_of(api, run["id"])
    assert steps["work"]["childJobId"] == child["id"]
    assert steps["work"]["output"] == {"steps": 4, "attempt": 1}


async def test_a_child_jobs_bad_data_fails_its_step_readably(tenant: Tenant) -> None:
    api = tenant.api
    spec = {
        "inputs": {"n": {"type": "string"}},
        "steps": [
            {"id": "w", "kind": "job", "jobType": "test-steps", "data": {"steps": "${inputs.n}"}}
        ],
    }
    pipeline = await save(api, "bad-child", spec)
    done = await run_to_end(api, (await start(api, pipeline["id"], {"n": "many"}))["id"])
    assert done["status"] == "failed"
    assert "step w failed" in done["error"]["message"]
    assert "data.steps" in done["error"]["message"]
    assert (await api.get("/api/jobs", params={"parent": done["id"]})).json()["data"] == []


async def test_cancelling_a_run_cancels_its_running_child(tenant: Tenant) -> None:
    api = tenant.api
    spec = {
        "steps": [
            {
                "id": "long",
                "kind": "job",
                "jobType": "test-steps",
                "data": {"steps": 1000, "step_seconds": 0.05},
            }
        ]
    }
    pipeline = await save(api, "cancel-me", spec)
    run = await start(api, pipeline["id"])
    await wait_for_step(api, run["id"], "long", "running")
    for _ in range(600):
        child_id = (await steps_of(api, run["id"]))["long"]["childJobId"]
        if child_id:
            break
        await asyncio.sleep(0.05)
    await wait_for_job(api, child_id, lambda j: j["status"] == "active", missing_ok=True)
    assert (await api.patch(f"/api/jobs/{run['id']}/cancel")).status_code == 202
    ended = await run_to_end(api, run["id"])
    assert ended["status"] == "cancelled"
    child = await run_to_end(api, child_id)
    assert child["status"] == "cancelled"
    assert (await steps_of(api, run["id"]))["long"]["status"] == "cancelled"


APPROVAL: dict[str, Any] = {
    "steps": [
        {"id": "ok", "kind": "approval", "message": "Ship it?"},
        {"id": "after", "kind": "transform", "expression": '`"shipped"`', "dependsOn": ["ok"]},
    ],
    "outputs": {"decision": "${steps.ok.output.decision}", "after": "${steps.after.output}"},
}


async def test_an_approval_waits_for_a_person(tenant: Tenant) -> None:
    api = tenant.api
    pipeline = await save(api, "approve", APPROVAL)
    run = await start(api, pipeline["id"])
    await wait_for_step(api, run["id"], "ok", "waiting")
    waiting = (await api.get(f"/api/jobs/{run['id']}")).json()
    assert waiting["progress"]["message"] == "waiting for approval: ok"
    # A step that is not waiting cannot be decided.
    early = await api.post(f"/api/jobs/{run['id']}/steps/after/approve")
    assert early.status_code == 409 and "not an approval" in early.json()["detail"]
    unknown = await api.post(f"/api/jobs/{run['id']}/steps/ghost/approve")
    assert unknown.status_code == 409 and "no step 'ghost'" in unknown.json()["detail"]
    answer = await api.post(f"/api/jobs/{run['id']}/steps/ok/approve", json={"note": "looks good"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"stepId": "ok", "approved": True}
    again = await api.post(f"/api/jobs/{run['id']}/steps/ok/reject")
    assert again.status_code == 409
    done = await run_to_end(api, run["id"])
    assert done["result"] == {"decision": "approved", "after": "shipped"}
    output = (await steps_of(api, run["id"]))["ok"]["output"]
    assert output == {"decision": "approved", "by": tenant.account.user_id, "note": "looks good"}
    finished = await api.post(f"/api/jobs/{run['id']}/steps/ok/approve")
    assert finished.status_code == 409 and "completed" in finished.json()["detail"]


async def test_a_rejection_fails_the_run_and_skips_nothing_silently(tenant: Tenant) -> None:
    api = tenant.api
    pipeline = await save(api, "reject", APPROVAL)
    run = await start(api, pipeline["id"])
    await wait_for_step(api, run["id"], "ok", "waiting")
    answer = await api.post(f"/api/jobs/{run['id']}/steps/ok/reject", json={"note": "not yet"})
    assert answer.status_code == 200 and answer.json()["approved"] is False
    done = await run_to_end(api, run["id"])
    assert done["status"] == "failed"
    assert (
        done["error"]["message"] == f"step ok failed: rejected by {tenant.account.user_id}: not yet"
    )
    assert (await steps_of(api, run["id"]))["after"]["status"] == "cancelled"


async def test_an_approval_timeout_takes_the_default_decision(tenant: Tenant) -> None:
    api = tenant.api
    spec = {
        "steps": [
            {"id": "ok", "kind": "approval", "timeout": "300ms", "defaultDecision": "approve"},
            {
                "id": "strict",
                "kind": "approval",
                "timeout": 0.3,
                "dependsOn": ["ok"],
                "continueOnError": True,
            },
        ],
        "outputs": {"by": "${steps.ok.output.by}", "strict": "${steps.strict.error.type}"},
    }
    pipeline = await save(api, "timeout", spec)
    done = await run_to_end(api, (await start(api, pipeline["id"]))["id"])
    assert done["status"] == "completed", done
    assert done["result"] == {"by": "timeout", "strict": "ApprovalTimedOut"}


async def test_a_run_keeps_its_version_when_the_pipeline_changes(tenant: Tenant) -> None:
    api = tenant.api
    pipeline = await save(api, "pinned", APPROVAL)
    run = await start(api, pipeline["id"])
    await wait_for_step(api, run["id"], "ok", "waiting")
    changed = {
        "steps": [{"id": "ok", "kind": "transform", "expression": '`"v2"`'}],
        "outputs": {"decision": "${steps.ok.output}"},
    }
    assert (
        await api.put(f"/api/pipelines/{pipeline['id']}", json={"spec": changed})
    ).status_code == 201
    await api.post(f"/api/jobs/{run['id']}/steps/ok/approve")
    done = await run_to_end(api, run["id"])
    assert done["data"]["version"] == 1
    assert done["result"] == {"decision": "approved", "after": "shipped"}
    newer = await run_to_end(api, (await start(api, pipeline["id"]))["id"])
    assert newer["data"]["version"] == 2 and newer["result"] == {"decision": "v2"}


RERUN: dict[str, Any] = {
    "inputs": {"fail": {"type": "boolean", "default": True}},
    "steps": [
        {
            "id": "costly",
            "kind": "job",
            "jobType": "test-steps",
            "data": {"steps": 2, "step_seconds": 0.01},
        },
        {
            "id": "shape",
            "kind": "transform",
            "expression": "steps",
            "input": "${steps.costly.output}",
        },
        {
            "id": "flaky",
            "kind": "transform",
            "expression": "length(@)",
            "input": "${steps.shape.output}",
        },
        {"id": "after", "kind": "transform", "expression": "`1`", "dependsOn": ["flaky"]},
    ],
}


async def test_rerun_from_a_step_reuses_the_outputs_upstream_of_it(tenant: Tenant) -> None:
    api = tenant.api
    pipeline = await save(api, "rerun", RERUN)
    first = await run_to_end(api, (await start(api, pipeline["id"]))["id"])
    assert first["status"] == "failed"  # length(2): not an array
    before = await steps_of(api, first["id"])
    # A rerun from a step whose upstream did not complete is refused.
    refused = await api.post(f"/api/jobs/{first['id']}/rerun", json={"fromStep": "after"})
    assert refused.status_code == 409 and "flaky" in refused.json()["detail"]
    unknown = await api.post(f"/api/jobs/{first['id']}/rerun", json={"fromStep": "nope"})
    assert unknown.status_code == 422
    response = await api.post(f"/api/jobs/{first['id']}/rerun", json={"fromStep": "flaky"})
    assert response.status_code == 201, response.text
    second = response.json()
    assert second["retryOf"] == first["id"]
    assert second["data"]["rerunOf"] == first["id"] and second["data"]["fromStep"] == "flaky"
    done = await run_to_end(api, second["id"])
    steps = await steps_of(api, second["id"])
    assert steps["costly"]["status"] == "completed"
    assert steps["costly"]["reason"] == f"reused from run {first['id']}"
    assert steps["costly"]["output"] == before["costly"]["output"]
    assert steps["shape"]["reason"] == f"reused from run {first['id']}"
    assert steps["flaky"]["status"] == "failed"  # ran again (same input, same failure)
    assert done["status"] == "failed"
    # No child job was started again: the costly step's work was not redone.
    children = (await api.get("/api/jobs", params={"parent": second["id"]})).json()["data"]
    assert children == []
