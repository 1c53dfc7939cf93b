"""GET /api/jobs/{id}/steps as the run's page reads it: each step's upstream steps (the
graph's edges, references included) and its input, resolved once it has started."""

from __future__ import annotations

from tests.conftest import Stack, Tenant, new_tenant
from tests.helpers import create_job, wait_for_job
from tests.pipelines.helpers import run_to_end, save, start, steps_of, wait_for_step
from tests.pipelines.test_runs import LINEAR
from tests.pipelines.test_steps import APPROVAL


async def test_each_step_names_its_upstream_steps_and_its_resolved_input(tenant: Tenant) -> None:
    api = tenant.api
    spec = {
        **LINEAR,
        "steps": [{**LINEAR["steps"][0], "name": "Count the rows"}, *LINEAR["steps"][1:]],
    }
    pipeline = await save(api, "view", spec)
    done = await run_to_end(api, (await start(api, pipeline["id"], {"rows": [1, 2, 3]}))["id"])
    assert done["status"] == "completed", done
    steps = await steps_of(api, done["id"])
    assert steps["count"]["name"] == "Count the rows" and steps["pause"]["name"] is None
    assert steps["count"]["dependsOn"] == []
    assert steps["pause"]["dependsOn"] == ["count"]
    # dependsOn first, then what its values read.
    assert steps["report"]["dependsOn"] == ["pause", "count"]
    assert steps["count"]["input"] == {"expression": "length(@)", "input": [1, 2, 3]}
    assert steps["report"]["input"] == {
        "expression": "{n: n, label: label}",
        "input": {"n": 3, "label": "rows"},
    }
    assert steps["pause"]["input"] == {"seconds": "50ms"}  # dependsOn is an edge, not input
    assert all(s["inputResolved"] for s in steps.values())


async def test_a_step_that_has_not_started_shows_its_input_as_written(tenant: Tenant) -> None:
    api = tenant.api
    spec = {
        **APPROVAL,
        "steps": [
            *APPROVAL["steps"],
            {
                "id": "echo",
                "kind": "transform",
                "expression": "@",
                "input": "${steps.ok.output.note}",
            },
        ],
    }
    pipeline = await save(api, "waits", spec)
    run = await start(api, pipeline["id"])
    await wait_for_step(api, run["id"], "ok", "waiting")
    steps = await steps_of(api, run["id"])
    assert steps["ok"]["input"] == {"message": "Ship it?"} and steps["ok"]["inputResolved"]
    assert steps["echo"]["status"] == "pending" and steps["echo"]["dependsOn"] == ["ok"]
    assert steps["echo"]["input"] == {"expression": "@", "input": "${steps.ok.output.note}"}
    assert steps["echo"]["inputResolved"] is False
    await api.post(f"/api/jobs/{run['id']}/steps/ok/approve", json={"note": "go"})
    await run_to_end(api, run["id"])
    echo = (await steps_of(api, run["id"]))["echo"]
    assert echo["input"] == {"expression": "@", "input": "go"} and echo["inputResolved"]


async def test_skipped_steps_and_large_outputs(tenant: Tenant) -> None:
    api = tenant.api
    spec = {
        "inputs": {"rows": {"type": "array"}},
        "steps": [
            {
                "id": "big",
                "kind": "transform",
                "expression": "{rows: @}",
                "input": "${inputs.rows}",
            },
            {
                "id": "whole",
                "kind": "transform",
                "expression": "`1`",
                "input": "${steps.big.output}",
            },
            {
                "id": "part",
                "kind": "transform",
                "expression": "@",
                "input": "${steps.big.output.rows[0]}",
            },
            {"id": "never", "kind": "transform", "expression": "`1`", "if": "`false`"},
        ],
    }
    pipeline = await save(api, "big", spec)
    rows = ["x" * 200] * 200  # over the 16 KiB inline limit: kept in file storage
    done = await run_to_end(api, (await start(api, pipeline["id"], {"rows": rows}))["id"])
    assert done["status"] == "completed", done
    steps = await steps_of(api, done["id"])
    marker = steps["big"]["output"]
    assert set(marker) == {"$blob", "bytes"}
    # A reference to the whole output shows its marker; one into it is left as written.
    assert steps["whole"]["input"]["input"] == marker and steps["whole"]["inputResolved"]
    assert steps["part"]["input"]["input"] == "${steps.big.output.rows[0]}"
    assert steps["part"]["inputResolved"] is False and steps["part"]["status"] == "completed"
    never = steps["never"]
    assert never["status"] == "skipped" and never["reason"] == "condition '`false`' is false"
    assert never["input"] == {"expression": "`1`"} and never["inputResolved"] is False


async def test_steps_of_what_is_not_a_visible_run_are_not_found(
    tenant: Tenant, stack: Stack
) -> None:
    api = tenant.api
    plain = await create_job(api, data={"steps": 1})
    await wait_for_job(api, plain["id"])
    response = await api.get(f"/api/jobs/{plain['id']}/steps")
    assert response.status_code == 404
    assert "is a test-steps job, not a pipeline run" in response.json()["detail"]
    assert (await api.get("/api/jobs/no-such-job/steps")).status_code == 404
    pipeline = await save(api, "mine", LINEAR)
    run = await run_to_end(api, (await start(api, pipeline["id"], {"rows": []}))["id"])
    other = await new_tenant(stack)
    async with stack.client(other.key) as theirs:
        assert (await theirs.get(f"/api/jobs/{run['id']}/steps")).status_code == 404
