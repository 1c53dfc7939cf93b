"""Pipeline runs: workflow-execution jobs that interpret the pinned spec: transforms,
timers, parallel branches, conditions, failures, and the run's result = its outputs."""

from __future__ import annotations

from typing import Any

from tests.conftest import Tenant
from tests.helpers import create_job, events_of
from tests.pipelines.helpers import run_to_end, save, start, steps_of

LINEAR: dict[str, Any] = {
    "inputs": {"rows": {"type": "array"}, "label": {"type": "string", "default": "rows"}},
    "steps": [
        {"id": "count", "kind": "transform", "expression": "length(@)", "input": "${inputs.rows}"},
        {"id": "pause", "kind": "sleep", "seconds": "50ms", "dependsOn": ["count"]},
        {
            "id": "report",
            "kind": "transform",
            "expression": "{n: n, label: label}",
            "input": {"n": "${steps.count.output}", "label": "${inputs.label}"},
            "dependsOn": ["pause"],
        },
    ],
    "outputs": {
        "report": "${steps.report.output}",
        "text": "${inputs.label}: ${steps.count.output}",
    },
}


async def test_a_run_interprets_its_steps_and_returns_its_outputs(tenant: Tenant) -> None:
    api = tenant.api
    pipeline = await save(api, "linear", LINEAR)
    job = await start(api, pipeline["id"], {"rows": [1, 2, 3]})
    assert job["type"] == "workflow-execution" and job["data"]["version"] == 1
    assert job["data"]["inputs"] == {"rows": [1, 2, 3], "label": "rows"}  # default filled in
    done = await run_to_end(api, job["id"])
    assert done["status"] == "completed", done
    assert done["result"] == {"report": {"n": 3, "label": "rows"}, "text": "rows: 3"}
    assert done["progress"]["current"] == 3 and done["progress"]["total"] == 3
    steps = await steps_of(api, job["id"])
    assert [s["status"] for s in steps.values()] == ["completed"] * 3
    assert steps["count"]["output"] == 3 and steps["pause"]["kind"] == "sleep"
    # Each step's status went out on the feed, in order.
    changes = [
        (c["stepId"], c["status"])
        for e in await events_of(api, job["id"])
        for c in e["data"].get("steps", [])
    ]
    assert changes == [
        ("count", "running"),
        ("count", "completed"),
        ("pause", "running"),
        ("pause", "completed"),
        ("report", "running"),
        ("report", "completed"),
    ]


async def test_post_api_jobs_takes_the_seed_frontends_shape(tenant: Tenant) -> None:
    api = tenant.api
    pipeline = await save(api, "by-jobs", LINEAR)
    job = await create_job(
        api,
        type="workflow-execution",
        name="Run Customer Workflow",
        data={"workflowId": pipeline["id"], "inputs": {"rows": ["a"]}},
    )
    done = await run_to_end(api, job["id"])
    assert done["result"]["report"] == {"n": 1, "label": "rows"}


async def test_bad_run_inputs_are_refused_before_a_job_exists(tenant: Tenant) -> None:
    api = tenant.api
    pipeline = await save(api, "strict", LINEAR)
    cases = [
        (
            {"workflowId": pipeline["id"], "inputs": {}},
            "inputs.rows: required input (array) missing",
        ),
        (
            {"workflowId": pipeline["id"], "inputs": {"rows": "x"}},
            "inputs.rows: expected array, got string",
        ),
        (
            {"workflowId": pipeline["id"], "inputs": {"rows": [], "extra": 1}},
            "inputs.extra: unknown input",
        ),
        ({"workflowId": "no-such-pipeline", "inputs": {}}, "no pipeline no-such-pipeline"),
        ({"workflowId": pipeline["id"], "version": 7, "inputs": {"rows": []}}, "not 7"),
        ({"inputs": {}}, "data.workflowId"),
    ]
    for data, message in cases:
        response = await api.post(
            "/api/jobs", json={"type": "workflow-execution", "name": "bad", "data": data}
        )
        assert response.status_code == 422, response.text
        assert message in response.json()["detail"], (message, response.json())
    jobs = (await api.get("/api/jobs", params={"type": "workflow-execution"})).json()["data"]
    assert jobs == []


BRANCHES: dict[str, Any] = {
    "inputs": {"big": {"type": "boolean"}},
    "steps": [
        {"id": "start", "kind": "transform", "expression": "`1`"},
        {"id": "left", "kind": "sleep", "seconds": 0.2, "dependsOn": ["start"]},
        {"id": "right", "kind": "sleep", "seconds": 0.2, "dependsOn": ["start"]},
        {
            "id": "only_big",
            "kind": "transform",
            "expression": "`true`",
            "if": "inputs.big",
            "dependsOn": ["left"],
        },
        {"id": "after_big", "kind": "transform", "expression": "`2`", "dependsOn": ["only_big"]},
        {"id": "join", "kind": "transform", "expression": "`3`", "dependsOn": ["left", "right"]},
    ],
    "outputs": {"big": "${steps.only_big.status}"},
}


async def test_branches_run_in_parallel_and_conditions_skip_with_the_reason(
    tenant: Tenant,
) -> None:
    api = tenant.api
    pipeline = await save(api, "branches", BRANCHES)
    done = await run_to_end(api, (await start(api, pipeline["id"], {"big": False}))["id"])
    assert done["status"] == "completed" and done["result"] == {"big": "skipped"}
    steps = await steps_of(api, done["id"])
    assert steps["only_big"]["reason"] == "condition 'inputs.big' is false"
    assert steps["after_big"]["status"] == "skipped"
    assert steps["after_big"]["reason"] == "only_big was skipped"
    assert steps["join"]["status"] == "completed"
    # left and right overlapped: each started before the other ended.
    left, right = steps["left"], steps["right"]
    assert left["startedAt"] < right["finishedAt"] and right["startedAt"] < left["finishedAt"]
    big = await run_to_end(api, (await start(api, pipeline["id"], {"big": True}))["id"])
    assert big["result"] == {"big": "completed"}


FAILING: dict[str, Any] = {
    "steps": [
        {"id": "bad", "kind": "transform", "expression": "length(@)", "input": 5},
        {"id": "after", "kind": "transform", "expression": "`1`", "dependsOn": ["bad"]},
        {"id": "slow", "kind": "sleep", "seconds": 30},
    ]
}


async def test_a_failed_step_fails_the_run_with_its_error(tenant: Tenant) -> None:
    api = tenant.api
    pipeline = await save(api, "failing", FAILING)
    done = await run_to_end(api, (await start(api, pipeline["id"]))["id"])
    assert done["status"] == "failed"
    assert done["error"]["message"].startswith("step bad failed: ")
    assert "length()" in done["error"]["message"]
    steps = await steps_of(api, done["id"])
    assert (
        steps["bad"]["status"] == "failed" and steps["bad"]["error"]["type"] == "InvalidExpression"
    )
    assert steps["after"]["status"] == "cancelled" and steps["after"]["reason"] == "the run failed"
    assert steps["slow"]["status"] == "cancelled"  # it was running: stopped, not left behind


async def test_continue_on_error_keeps_the_run_going(tenant: Tenant) -> None:
    api = tenant.api
    spec = {
        "steps": [
            {**FAILING["steps"][0], "continueOnError": True},
            {"id": "after", "kind": "transform", "expression": "`1`", "dependsOn": ["bad"]},
            {
                "id": "handle",
                "kind": "transform",
                "expression": "steps.bad.error.type",
                "if": "steps.bad.status == 'failed'",
            },
        ],
        "outputs": {"handled": "${steps.handle.output}"},
    }
    pipeline = await save(api, "tolerant", spec)
    done = await run_to_end(api, (await start(api, pipeline["id"]))["id"])
    assert done["status"] == "completed", done
    assert done["result"] == {"handled": "InvalidExpression"}
    steps = await steps_of(api, done["id"])
    assert steps["bad"]["status"] == "failed"
    assert steps["after"]["status"] == "skipped" and steps["after"]["reason"] == "bad failed"


async def test_large_outputs_travel_by_reference(tenant: Tenant) -> None:
    api = tenant.api
    spec = {
        "inputs": {"n": {"type": "integer"}},
        "steps": [
            {
                "id": "big",
                "kind": "transform",
                "expression": "[?@ < `100000000`]",
                "input": "${inputs.n}",
            }
        ],
    }
    # The input itself is small; the output must be made large by the step.
    spec["steps"][0] = {
        "id": "big",
        "kind": "transform",
        "expression": "{rows: rows, n: n}",
        "input": {"rows": "${inputs.rows}", "n": "${inputs.n}"},
    }
    spec["inputs"]["rows"] = {"type": "array"}
    spec["steps"].append(
        {
            "id": "first",
            "kind": "transform",
            "expression": "rows[0]",
            "input": "${steps.big.output}",
        }
    )
    spec["steps"].append(
        {"id": "pick", "kind": "transform", "expression": "`1`", "if": "steps.big.output.n == `7`"}
    )
    spec["outputs"] = {"first": "${steps.first.output}", "n": "${steps.big.output.n}"}
    pipeline = await save(api, "large", spec)
    rows = [f"row {i:06d} " + "x" * 200 for i in range(200)]  # ~45 KB: over the inline limit
    job = await start(api, pipeline["id"], {"rows": rows, "n": 7})
    done = await run_to_end(api, job["id"])
    assert done["status"] == "completed", done
    assert done["result"] == {"first": rows[0], "n": 7}
    steps = await steps_of(api, job["id"])
    assert set(steps["big"]["output"]) == {"$blob", "bytes"}
    assert steps["pick"]["status"] == "completed"  # its condition read the stored output
    full = await api.get(f"/api/jobs/{job['id']}/steps/big/output")
    assert full.json() == {"rows": rows, "n": 7}
