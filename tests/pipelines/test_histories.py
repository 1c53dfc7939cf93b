"""Recorded histories of pipeline runs (the interpreter is workflow code: a change that
breaks determinism must fail CI), and of map steps' own jobs. Each scenario's run is a
child of a one-step wrapper pipeline; the child run's history is the fixture
(tests/workflows/test_replay.py replays every fixture). Record with
JOBDECK_RECORD_HISTORIES=1 on SQLite."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import Stack, Tenant
from tests.pipelines.helpers import run_to_end, save, start, steps_of, wait_for_step
from tests.workflows.test_replay import record_history

DAG: dict[str, Any] = {
    "inputs": {"rows": {"type": "array", "default": [1, 2, 3]}, "deep": {"type": "boolean"}},
    "steps": [
        {"id": "count", "kind": "transform", "expression": "length(@)", "input": "${inputs.rows}"},
        {"id": "nap", "kind": "sleep", "seconds": "20ms", "dependsOn": ["count"]},
        {"id": "side", "kind": "transform", "expression": "`1`", "dependsOn": ["count"]},
        {"id": "deep", "kind": "transform", "expression": "`2`", "if": "inputs.deep"},
        {
            "id": "child",
            "kind": "job",
            "jobType": "test-steps",
            "data": {"steps": 2, "step_seconds": 0.01},
        },
        {
            "id": "sum",
            "kind": "transform",
            "expression": "{n: n, child: child}",
            "input": {"n": "${steps.count.output}", "child": "${steps.child.output.steps}"},
            "dependsOn": ["nap", "side", "deep"],
            "if": "`true`",
        },
    ],
    "outputs": {"sum": "${steps.sum.output}"},
}
FAILS: dict[str, Any] = {
    "steps": [
        {"id": "bad", "kind": "transform", "expression": "length(@)", "input": 1},
        {"id": "never", "kind": "transform", "expression": "`1`", "dependsOn": ["bad"]},
    ]
}
APPROVAL: dict[str, Any] = {
    "steps": [
        {"id": "ok", "kind": "approval"},
        {
            "id": "late",
            "kind": "approval",
            "timeout": "50ms",
            "defaultDecision": "approve",
            "dependsOn": ["ok"],
        },
    ]
}

# A map on the item runner (transform) feeding a map of child jobs (a window).
MAPS: dict[str, Any] = {
    "inputs": {"rows": {"type": "array", "default": [1, 2, 3]}},
    "steps": [
        {
            "id": "double",
            "kind": "map",
            "items": "${inputs.rows}",
            "concurrency": 2,
            "step": {"kind": "transform", "expression": "sum([item, item])"},
        },
        {
            "id": "children",
            "kind": "map",
            "items": "${steps.double.output.results}",
            "concurrency": 2,
            "step": {
                "kind": "job",
                "jobType": "test-steps",
                "data": {"steps": "${item}", "step_seconds": 0.01},
            },
        },
    ],
    "outputs": {
        "double": "${steps.double.output.results}",
        "children": "${steps.children.output.succeeded}",
    },
}


async def _inner_run(
    tenant: Tenant, name: str, spec: dict[str, Any], inputs: dict[str, Any]
) -> str:
    api = tenant.api
    inner = await save(api, f"{name}-inner", spec)
    wrapper = await save(
        api,
        name,
        {
            "steps": [
                {
                    "id": "inner",
                    "kind": "job",
                    "jobType": "workflow-execution",
                    "data": {"workflowId": inner["id"], "inputs": inputs},
                    "continueOnError": True,
                }
            ]
        },
    )
    run = await start(api, wrapper["id"])
    await wait_for_step(api, run["id"], "inner", "running")
    for _ in range(200):
        child = (await steps_of(api, run["id"]))["inner"]["childJobId"]
        if child:
            return str(child)
        await asyncio.sleep(0.05)
    raise AssertionError("the inner run did not start")


async def test_pipeline_histories_replay_and_can_be_recorded(stack: Stack, tenant: Tenant) -> None:
    api = tenant.api
    completed = await _inner_run(tenant, "history-dag", DAG, {"deep": False})
    done = await run_to_end(api, completed)
    assert done["status"] == "completed" and done["result"] == {"sum": {"n": 3, "child": 2}}
    await record_history(stack, completed, "pipeline-dag-completed")

    failed = await _inner_run(tenant, "history-fails", FAILS, {})
    assert (await run_to_end(api, failed))["status"] == "failed"
    await record_history(stack, failed, "pipeline-step-failed")

    approved = await _inner_run(tenant, "history-approval", APPROVAL, {})
    await wait_for_step(api, approved, "ok", "waiting")
    assert (await api.post(f"/api/jobs/{approved}/steps/ok/approve")).status_code == 200
    assert (await run_to_end(api, approved))["status"] == "completed"
    await record_history(stack, approved, "pipeline-approval-completed")

    cancelled = await _inner_run(tenant, "history-cancel", APPROVAL, {})
    await wait_for_step(api, cancelled, "ok", "waiting")
    await api.patch(f"/api/jobs/{cancelled}/cancel")
    assert (await run_to_end(api, cancelled))["status"] == "cancelled"
    await record_history(stack, cancelled, "pipeline-cancelled")


async def test_map_histories_replay_and_can_be_recorded(stack: Stack, tenant: Tenant) -> None:
    """A run with map steps, and each map's own job (the item runner's path and the window
    of child jobs)."""
    api = tenant.api
    run = await _inner_run(tenant, "history-maps", MAPS, {})
    done = await run_to_end(api, run)
    assert done["status"] == "completed", done
    assert done["result"] == {"double": [2, 4, 6], "children": 3}
    await record_history(stack, run, "pipeline-map-run-completed")
    steps = await steps_of(api, run)
    await record_history(stack, steps["double"]["childJobId"], "pipeline-map-items-completed")
    await record_history(stack, steps["children"]["childJobId"], "pipeline-map-jobs-completed")
