"""Limits around pipeline runs: a pipeline that leads back to itself is refused on save
(the cycle named) and, where only a reference shows it, stopped at run time by
pipeline_max_depth; a child job starts with its organization as its fairness key; an
archived pipeline's schedule starts no run (refused like POST /api/jobs refuses one)."""

from __future__ import annotations

import uuid
from typing import Any

from jobdeck.services.schedule_temporal import temporal_id
from tests.conftest import Stack, Tenant, new_tenant, open_stack
from tests.pipelines.helpers import run_to_end, save, start, steps_of
from tests.schedules.test_schedules_api import runs_of, wait_for_miss

COUNT: dict[str, Any] = {
    "steps": [{"id": "count", "kind": "transform", "expression": "length(@)", "input": [1, 2]}],
    "outputs": {"n": "${steps.count.output}"},
}


def runs(step_id: str, pipeline_id: str, **data: Any) -> dict[str, Any]:
    """A job step that runs a pipeline."""
    return {
        "id": step_id,
        "kind": "job",
        "jobType": "workflow-execution",
        "data": {"workflowId": pipeline_id, "inputs": {}, **data},
    }


async def _refused(
    api: Any, pipeline_id: str, spec: dict[str, Any], says: str, latest: int = 1
) -> None:
    response = await api.put(f"/api/pipelines/{pipeline_id}", json={"spec": spec})
    assert response.status_code == 422, response.text
    assert says in str(response.json()["detail"]), response.text
    shown = (await api.get(f"/api/pipelines/{pipeline_id}")).json()
    assert shown["latestVersion"] == latest, shown  # nothing stored


async def test_a_pipeline_that_starts_itself_is_refused_on_save(tenant: Tenant) -> None:
    api = tenant.api
    outer = await save(api, "outer", COUNT)
    # Directly: its own job step runs it.
    await _refused(
        api,
        outer["id"],
        {"steps": [runs("again", outer["id"])]},
        "steps.again.data.workflowId: cycle of pipeline runs: outer (step again) -> outer",
    )
    # Through another: outer -> inner -> outer.
    inner = await save(api, "inner", {"steps": [runs("back", outer["id"])]})
    await _refused(
        api,
        outer["id"],
        {"steps": [{"id": "first", "kind": "sleep", "seconds": 0}, runs("call", inner["id"])]},
        "steps.call.data.workflowId: cycle of pipeline runs: outer (step call) -> "
        "inner (step back) -> outer",
    )
    # A step pinned to a version that does not lead back is no cycle.
    pinned = await api.put(
        f"/api/pipelines/{inner['id']}",
        json={"spec": {"steps": [runs("back", outer["id"], version=1)]}},
    )
    assert pinned.status_code in (200, 201), pinned.text
    fine = await api.put(
        f"/api/pipelines/{outer['id']}", json={"spec": {"steps": [runs("call", inner["id"])]}}
    )
    assert fine.status_code in (200, 201), fine.text
    # ... but a pin to a version that does lead back is.
    await _refused(
        api,
        inner["id"],
        {"steps": [runs("back", outer["id"], version=2)]},
        "cycle of pipeline runs: inner (step back) -> outer (step call) -> inner",
        latest=2,
    )


async def test_a_run_nested_deeper_than_the_limit_fails(stack: Stack) -> None:
    """A pipeline that runs the pipeline named in its input (a reference: not seen on
    save), given its own id, stops at pipeline_max_depth."""
    async with open_stack(
        stack, task_queue=f"tq-{uuid.uuid4().hex[:8]}", pipeline_max_depth=3
    ) as limited:
        account = await new_tenant(limited)
        async with limited.client(account.key) as api:
            spec = {
                "inputs": {"target": {"type": "string"}},
                "steps": [
                    runs(
                        "recurse",
                        "${inputs.target}",
                        inputs={"target": "${inputs.target}"},
                    )
                ],
            }
            pipeline = await save(api, "recursive", spec)
            run = await start(api, pipeline["id"], {"target": pipeline["id"]})
            done = await run_to_end(api, run["id"], within=90)
            assert done["status"] == "failed", done
            chain = [done]
            while True:
                children = (await api.get("/api/jobs", params={"parent": chain[-1]["id"]})).json()[
                    "data"
                ]
                if not children:
                    break
                (child,) = children
                chain.append(await run_to_end(api, child["id"], within=90))
            assert len(chain) == 3  # the limit: three runs, one inside the other
            assert [j["status"] for j in chain] == ["failed"] * 3
            deepest = chain[-1]
            assert deepest["error"]["type"] == "PipelineTooDeep", deepest["error"]
            assert (
                "step recurse: pipeline runs nest at most 3 deep (JOBDECK_PIPELINE_MAX_DEPTH) "
                "and this run is 3 deep already" in deepest["error"]["message"]
            )
            assert "nest at most 3 deep" in done["error"]["message"]  # said at the top too
            steps = await steps_of(api, deepest["id"])
            assert steps["recurse"]["status"] == "failed"
            assert "childJobId" not in steps["recurse"] or not steps["recurse"]["childJobId"]


async def test_a_child_job_starts_with_its_organizations_fairness_key(
    stack: Stack, tenant: Tenant
) -> None:
    api = tenant.api
    spec = {
        "steps": [
            {
                "id": "work",
                "kind": "job",
                "jobType": "test-steps",
                "data": {"steps": 1, "step_seconds": 0},
                "priority": 2,
            }
        ]
    }
    pipeline = await save(api, "fair", spec)
    run = await start(api, pipeline["id"])
    done = await run_to_end(api, run["id"])
    assert done["status"] == "completed", done
    (child,) = (await api.get("/api/jobs", params={"parent": run["id"]})).json()["data"]
    org = tenant.account.organization_id
    temporal = stack.runtime.temporal
    described = await temporal.get_workflow_handle(child["id"]).describe()
    priority = described.raw_description.workflow_execution_info.priority
    assert priority.fairness_key == org
    assert priority.fairness_weight == 1.0
    assert priority.priority_key == 2
    # Asked for in the start request itself (the server would otherwise fill the key in
    # from the parent's, but not a weight of the child's own).
    history = await temporal.get_workflow_handle(run["id"]).fetch_history()
    (started,) = [
        e.start_child_workflow_execution_initiated_event_attributes
        for e in history.events
        if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]
    assert started.priority.fairness_key == org
    assert started.priority.fairness_weight == 1.0
    assert started.priority.priority_key == 2
    # The same key and weight as the run's own workflow (started like any job).
    own = (await temporal.get_workflow_handle(run["id"]).describe()).raw_description
    assert own.workflow_execution_info.priority.fairness_key == org
    assert own.workflow_execution_info.priority.fairness_weight == priority.fairness_weight


async def test_an_archived_pipelines_schedule_starts_no_run(stack: Stack, tenant: Tenant) -> None:
    api = tenant.api
    pipeline = await save(api, "nightly", COUNT)
    body = {
        "name": "nightly",
        "pipeline": {"id": pipeline["id"], "inputs": {}},
        "cron": "30 2 * * *",
        "paused": True,
    }
    response = await api.post("/api/schedules", json=body)
    assert response.status_code == 201, response.text
    schedule = response.json()
    assert (await api.delete(f"/api/pipelines/{pipeline['id']}")).status_code == 200

    # Checked as POST /api/jobs checks a run: a trigger is refused, saying why.
    fired = await api.post(f"/api/schedules/{schedule['id']}/trigger")
    assert fired.status_code == 422, fired.text
    assert "pipeline 'nightly' is archived" in fired.json()["detail"]
    # A firing by Temporal starts no job either: it is recorded as a missed run.
    await stack.runtime.temporal.get_schedule_handle(
        temporal_id(tenant.account.organization_id, schedule["id"])
    ).trigger()
    shown = await wait_for_miss(api, schedule["id"])
    assert [m["reason"] for m in shown["missed"]] == ["job_refused"]
    assert await runs_of(api, schedule["id"]) == []
