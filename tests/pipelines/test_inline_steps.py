"""Transform steps evaluated in the workflow, and step changes recorded together (patch
`pipeline-inline-steps`): a chain of small transforms runs no activity and costs one
record, yet every step's row and every status change on the feed are as before; a
transform that must read a large output (or would make one) still runs as the
`run_step` activity; a bad expression fails the step with the activity path's error."""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import EventType

from tests.conftest import Stack, Tenant
from tests.pipelines.helpers import run_to_end, save, start, step_changes, steps_of

RUN_STEP = "pipeline.run_step"


async def _activities(stack: Stack, job_id: str) -> list[str]:
    """The (regular) activities the run's workflow scheduled, by type."""
    history = await stack.runtime.temporal.get_workflow_handle(job_id).fetch_history()
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


CHAIN: dict[str, Any] = {
    "inputs": {"x": {"type": "object"}},
    "steps": [
        {"id": "a", "kind": "transform", "expression": "{n: n, tag: 'a'}", "input": "${inputs.x}"},
        {"id": "b", "kind": "transform", "expression": "n", "input": "${steps.a.output}"},
        {
            "id": "c",
            "kind": "transform",
            "expression": "sum([@, `1`])",
            "input": "${steps.b.output}",
        },
        {"id": "d", "kind": "transform", "expression": "steps.c.output", "dependsOn": ["c"]},
    ],
    "outputs": {"d": "${steps.d.output}", "a": "${steps.a.output}"},
}


async def test_a_chain_of_transforms_runs_inline_with_one_record(
    stack: Stack, tenant: Tenant
) -> None:
    api = tenant.api
    pipeline = await save(api, "inline-chain", CHAIN)
    run = await start(api, pipeline["id"], {"x": {"n": 41}})
    done = await run_to_end(api, run["id"])
    assert done["status"] == "completed", done
    assert done["result"] == {"d": 42, "a": {"n": 41, "tag": "a"}}
    assert done["progress"]["current"] == 4 and done["progress"]["total"] == 4
    # Each step's row: completed, with its output and both times.
    steps = await steps_of(api, run["id"])
    assert {k: s["status"] for k, s in steps.items()} == dict.fromkeys("abcd", "completed")
    assert [steps[k]["output"] for k in "abcd"] == [{"n": 41, "tag": "a"}, 41, 42, 42]
    assert all(s["startedAt"] and s["finishedAt"] for s in steps.values())
    assert all(s["attempts"] == 1 for s in steps.values())
    # Every status change went out on the feed, in order, in one event (one record).
    expected = [(k, status) for k in "abcd" for status in ("running", "completed")]
    assert await step_changes(api, run["id"]) == [expected]
    # No step ran as an activity: the only activity is the spec's load.
    assert await _activities(stack, run["id"]) == ["pipeline.load"]


async def test_a_transform_over_a_large_output_runs_as_the_activity(
    stack: Stack, tenant: Tenant
) -> None:
    api = tenant.api
    spec = {
        "inputs": {"rows": {"type": "array"}},
        "steps": [
            # Small input, output over the inline limit: computed by the activity, which
            # keeps it in file storage.
            {
                "id": "big",
                "kind": "transform",
                "expression": "{rows: @}",
                "input": "${inputs.rows}",
            },
            # Reads the stored output: the activity (the workflow cannot read files).
            {
                "id": "first",
                "kind": "transform",
                "expression": "rows[0]",
                "input": "${steps.big.output}",
            },
            # Small, reading nothing large: inline.
            {"id": "small", "kind": "transform", "expression": "`3`"},
        ],
        "outputs": {"first": "${steps.first.output}", "small": "${steps.small.output}"},
    }
    pipeline = await save(api, "inline-blob", spec)
    rows = [f"row {i:05d} " + "x" * 200 for i in range(100)]  # ~21 KB: over 16 KiB
    done = await run_to_end(api, (await start(api, pipeline["id"], {"rows": rows}))["id"])
    assert done["status"] == "completed", done
    assert done["result"] == {"first": rows[0], "small": 3}
    steps = await steps_of(api, done["id"])
    assert set(steps["big"]["output"]) == {"$blob", "bytes"}
    assert steps["first"]["output"] == rows[0] and steps["small"]["output"] == 3
    assert sorted(await _activities(stack, done["id"])) == ["pipeline.load", RUN_STEP, RUN_STEP]
    changes = [c for event in await step_changes(api, done["id"]) for c in event]
    assert sorted(changes) == sorted(
        (k, s) for k in ("big", "first", "small") for s in ("running", "completed")
    )


async def test_a_bad_expression_fails_the_step_as_the_activity_does(
    stack: Stack, tenant: Tenant
) -> None:
    """The same failing step, inline and (its context holding a large output, so the
    workflow cannot evaluate it) as the activity: the same error, type and message."""
    api = tenant.api
    bad = {"kind": "transform", "expression": "length(@)", "input": 5}
    inline = {"steps": [{"id": "bad", **bad}]}
    by_activity = {
        "inputs": {"rows": {"type": "array"}},
        "steps": [
            {"id": "big", "kind": "transform", "expression": "@", "input": "${inputs.rows}"},
            {"id": "bad", **bad, "dependsOn": ["big"]},
        ],
    }
    rows = ["x" * 1000] * 20  # ~20 KB
    errors = []
    for name, spec, inputs in (
        ("bad-inline", inline, {}),
        ("bad-activity", by_activity, {"rows": rows}),
    ):
        pipeline = await save(api, name, spec)
        done = await run_to_end(api, (await start(api, pipeline["id"], inputs))["id"])
        assert done["status"] == "failed", done
        step = (await steps_of(api, done["id"]))["bad"]
        assert step["status"] == "failed"
        assert step["error"]["type"] == "InvalidExpression"
        assert step["error"]["message"].startswith("step bad: ")
        assert "length()" in step["error"]["message"]
        assert done["error"]["message"] == f"step bad failed: {step['error']['message']}"
        assert done["error"]["type"] == "InvalidExpression"
        ran = (await _activities(stack, done["id"])).count(RUN_STEP)
        errors.append((step["error"], done["error"], ran))
    (inline_step, inline_run, inline_ran), (activity_step, activity_run, activity_ran) = errors
    assert inline_ran == 0 and activity_ran == 2  # one path each, and one attempt each
    assert inline_step == activity_step
    assert inline_run == activity_run
