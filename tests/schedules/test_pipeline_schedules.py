"""A schedule that runs a saved pipeline, on the real Temporal dev server: each firing is an
ordinary pipeline run (a workflow-execution job) linked to its schedule, pinned to the
version the schedule was saved with; a bad pipeline action gets a clear 422."""

from __future__ import annotations

import json
from typing import Any

import pytest
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.worker import Replayer

from jobdeck.activities.scheduled import SCHEDULED_RUN_WORKFLOW
from jobdeck.services.schedule_temporal import temporal_id
from jobdeck.workflows.pipeline import PipelineWorkflow
from tests.conftest import Stack, Tenant, new_tenant
from tests.pipelines.helpers import run_to_end, save, steps_of
from tests.schedules.test_schedules_api import wait_for_runs

COUNT: dict[str, Any] = {
    "inputs": {"rows": {"type": "array"}, "label": {"type": "string", "default": "rows"}},
    "steps": [
        {"id": "count", "kind": "transform", "expression": "length(@)", "input": "${inputs.rows}"}
    ],
    "outputs": {"text": "${inputs.label}: ${steps.count.output}"},
}


def pipeline_body(saved: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {
        "name": "nightly count",
        "pipeline": {"id": saved["id"], "inputs": {"rows": [1, 2, 3]}},
        "cron": "30 2 * * *",
        "timezone": "Europe/Berlin",
        "paused": True,
        **changes,
    }


async def test_a_schedule_runs_a_saved_pipeline(stack: Stack, tenant: Tenant) -> None:
    api = tenant.api
    pipeline = await save(api, "counter", COUNT)
    response = await api.post("/api/schedules", json=pipeline_body(pipeline))
    assert response.status_code == 201, response.text
    schedule = response.json()
    # Pinned to the latest version when saved, the inputs checked with defaults filled in.
    assert schedule["pipeline"] == {
        "id": pipeline["id"],
        "version": 1,
        "inputs": {"rows": [1, 2, 3], "label": "rows"},
        "pipeline": f"/api/pipelines/{pipeline['id']}",
    }
    assert schedule["job"]["type"] == "workflow-execution"
    assert schedule["job"]["name"] == "counter"  # the pipeline's name by default
    described = await stack.runtime.temporal.get_schedule_handle(
        temporal_id(tenant.account.organization_id, schedule["id"])
    ).describe()
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == SCHEDULED_RUN_WORKFLOW
    assert json.loads(action.args[0].data)["job"]["type"] == "workflow-execution"

    # A later version of the pipeline does not change what the schedule runs.
    changed = {**COUNT, "outputs": {"text": "v2"}}
    saved = await api.put(f"/api/pipelines/{pipeline['id']}", json={"spec": changed})
    assert saved.status_code in (200, 201), saved.text

    fired = await api.post(f"/api/schedules/{schedule['id']}/trigger")
    assert fired.status_code == 202, fired.text
    (run,) = await wait_for_runs(api, schedule["id"], 1)
    assert run["scheduleId"] == schedule["id"]
    assert run["type"] == "workflow-execution" and run["name"] == "counter"
    assert run["data"]["workflowId"] == pipeline["id"] and run["data"]["version"] == 1
    done = await run_to_end(api, run["id"])
    assert done["status"] == "completed", done
    assert done["result"] == {"text": "rows: 3"}
    steps = await steps_of(api, run["id"])
    assert steps["count"]["status"] == "completed" and steps["count"]["output"] == 3
    # Listed with the other pipeline runs.
    runs = (await api.get("/api/jobs", params={"type": "workflow-execution"})).json()["data"]
    assert run["id"] in [j["id"] for j in runs]
    shown = (await api.get(f"/api/schedules/{schedule['id']}")).json()
    assert [r["jobId"] for r in shown["lastRuns"]] == [run["id"]]
    history = await stack.runtime.temporal.get_workflow_handle(run["id"]).fetch_history()
    await Replayer(workflows=[PipelineWorkflow]).replay_workflow(history)

    # Saving the schedule again without a version moves it to the latest.
    updated = await api.put(
        f"/api/schedules/{schedule['id']}",
        json=pipeline_body(pipeline, pipeline={"id": pipeline["id"], "inputs": {"rows": []},
                                               "name": "count v2", "priority": 2}),
    )  # fmt: skip
    assert updated.status_code == 200, updated.text
    assert updated.json()["pipeline"]["version"] == 2
    assert updated.json()["job"]["name"] == "count v2"
    assert updated.json()["job"]["priority"] == 2
    await api.post(f"/api/schedules/{schedule['id']}/trigger")
    runs = await wait_for_runs(api, schedule["id"], 2)
    second = next(r for r in runs if r["id"] != run["id"])
    assert second["data"]["version"] == 2 and second["priority"] == 2
    assert (await run_to_end(api, second["id"]))["result"] == {"text": "v2"}

    # A pinned older version can be asked for by number.
    pinned = await api.put(
        f"/api/schedules/{schedule['id']}",
        json=pipeline_body(pipeline, pipeline={"id": pipeline["id"], "version": 1,
                                               "inputs": {"rows": []}}),
    )  # fmt: skip
    assert pinned.status_code == 200, pinned.text
    assert pinned.json()["pipeline"]["version"] == 1


async def _refused(tenant: Tenant, body: dict[str, Any], says: str) -> None:
    response = await tenant.api.post("/api/schedules", json=body)
    assert response.status_code == 422, response.text
    assert says.lower() in str(response.json()["detail"]).lower(), response.text
    assert (await tenant.api.get("/api/schedules")).json()["data"] == []


@pytest.mark.parametrize(
    ("action", "says"),
    [
        ({"inputs": {}}, "pipeline.inputs: not valid for pipeline 'counter': inputs.rows: "
                         "required input (array) missing"),
        ({"inputs": {"rows": "abc"}}, "inputs.rows: "),
        ({"inputs": {"rows": [], "colour": 1}}, "inputs.colour: unknown input; declared: "
                                                "label, rows"),
        ({"version": 7, "inputs": {"rows": []}}, "pipeline.version: pipeline 'counter' has "
                                                 "versions 1 to 1, not 7"),
        ({"version": 0, "inputs": {"rows": []}}, "version"),
        ({"inputs": {"rows": []}, "priority": 9}, "job.priority must be 1"),
        ({"inputs": {"rows": []}, "ref": "x"}, "ref"),
    ],
)  # fmt: skip
async def test_a_bad_pipeline_action_is_refused(
    tenant: Tenant, action: dict[str, Any], says: str
) -> None:
    pipeline = await save(tenant.api, "counter", COUNT)
    body = pipeline_body(pipeline, pipeline={"id": pipeline["id"], **action})
    await _refused(tenant, body, says)


async def test_an_unknown_archived_or_foreign_pipeline_is_refused(
    stack: Stack, tenant: Tenant
) -> None:
    await _refused(
        tenant,
        pipeline_body({"id": "no-such-pipeline"}),
        "pipeline.id: no pipeline 'no-such-pipeline' in your organization",
    )
    other = await new_tenant(stack)
    async with stack.client(other.key) as other_api:
        theirs = await save(other_api, "theirs", COUNT)
    # Another organization's pipeline reads as unknown, by `pipeline` or by a job's data.
    await _refused(
        tenant,
        pipeline_body(theirs),
        f"pipeline.id: no pipeline {theirs['id']!r} in your organization",
    )
    job = {
        "type": "workflow-execution",
        "name": "x",
        "data": {"workflowId": theirs["id"], "inputs": {"rows": []}},
    }
    await _refused(
        tenant,
        {**pipeline_body(theirs), "pipeline": None, "job": job},
        f"no pipeline {theirs['id']} in your organization",
    )
    mine = await save(tenant.api, "archived", COUNT)
    assert (await tenant.api.delete(f"/api/pipelines/{mine['id']}")).status_code == 200
    await _refused(tenant, pipeline_body(mine), "pipeline 'archived' is archived")


async def test_a_schedule_gives_either_a_job_or_a_pipeline(tenant: Tenant) -> None:
    pipeline = await save(tenant.api, "counter", COUNT)
    job = {"type": "test-steps", "name": "x", "data": {"steps": 1, "step_seconds": 0}}
    await _refused(
        tenant, {**pipeline_body(pipeline), "job": job}, "give either job or pipeline, not both"
    )
    neither = pipeline_body(pipeline)
    del neither["pipeline"]
    await _refused(tenant, neither, "give what each run is: job")
