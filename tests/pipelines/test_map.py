"""The `map` step: its step for each item of a list, at most `concurrency` at once, each
item's outcome a row of the map's child job; a failed item fails the step unless
continueOnError; 10,000 items within a small history; bad maps refused on save."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from jobdeck.domain import JobSpec
from jobdeck.pipelines.maps import PipelineMapData
from jobdeck.workflows.pipeline_map import PipelineMapWorkflow
from tests.conftest import Stack, Tenant, new_tenant, open_stack
from tests.fakes.serving import serving
from tests.pipelines.helpers import run_to_end, save, start, steps_of, wait_for_step

# Bounds on the histories of a run with a 10,000-item map (README): the run's, three steps
# with the map one child job among them (51 events measured, whatever the items), and the
# map job's, two work calls of 5,000 items (34 measured; 6 more per 5,000 items).
RUN_EVENTS_MAX = 60
MAP_EVENTS_MAX = 60


def doubling(**map_fields: Any) -> dict[str, Any]:
    return {
        "inputs": {"rows": {"type": "array"}},
        "steps": [
            {"id": "rows", "kind": "transform", "expression": "@", "input": "${inputs.rows}"},
            {
                "id": "m",
                "kind": "map",
                "items": "${steps.rows.output}",
                "concurrency": 4,
                "step": {
                    "kind": "transform",
                    "expression": "{i: i, twice: sum([n, n])}",
                    "input": {"i": "${index}", "n": "${item}"},
                },
                **map_fields,
            },
            {
                "id": "after",
                "kind": "transform",
                "expression": "length(results)",
                "input": "${steps.m.output}",
            },
        ],
        "outputs": {"m": "${steps.m.output}", "after": "${steps.after.output}"},
    }


async def items_of(api: Any, job_id: str) -> dict[str, Any]:
    response = await api.get(f"/api/jobs/{job_id}/items", params={"limit": 500})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_map_runs_its_step_for_each_item_with_per_item_results(tenant: Tenant) -> None:
    api = tenant.api
    pipeline = await save(api, "map-double", doubling())
    done = await run_to_end(api, (await start(api, pipeline["id"], {"rows": [3, 1, 4]}))["id"])
    assert done["status"] == "completed", done
    results = [{"i": 0, "twice": 6}, {"i": 1, "twice": 2}, {"i": 2, "twice": 8}]
    assert done["result"] == {
        "m": {
            "results": results,
            "total": 3,
            "succeeded": 3,
            "failed": 0,
            "skipped": 0,
            "errors": [],
        },
        "after": 3,
    }
    step = (await steps_of(api, done["id"]))["m"]
    assert step["status"] == "completed"
    assert step["details"]["itemsJobId"] == step["childJobId"]
    assert step["details"]["succeeded"] == 3
    # The map is a child job of the run, whose items are the per-item results.
    child = (await api.get(f"/api/jobs/{step['childJobId']}")).json()
    assert child["type"] == "pipeline-map" and child["parentId"] == done["id"]
    assert child["status"] == "completed"
    assert child["progress"]["current"] == 3 and child["progress"]["unit"] == "items"
    items = await items_of(api, child["id"])
    assert [(i["key"], i["status"], i["details"]) for i in items["data"]] == [
        ("0", "succeeded", {"index": 0, "item": 3}),
        ("1", "succeeded", {"index": 1, "item": 1}),
        ("2", "succeeded", {"index": 2, "item": 4}),
    ]
    assert [i["result"]["output"] for i in items["data"]] == results
    assert items["counts"]["succeeded"] == 3


async def test_an_item_that_fails_fails_the_step_unless_continue_on_error(
    tenant: Tenant,
) -> None:
    api = tenant.api
    rows = [1, -2, "x", 4]  # abs("x") is a JMESPath type error: item 2 fails alone
    spec = doubling()
    spec["steps"][1]["step"] = {"kind": "transform", "expression": "abs(item)"}
    strict = await save(api, "map-strict", spec)
    failed = await run_to_end(api, (await start(api, strict["id"], {"rows": rows}))["id"])
    assert failed["status"] == "failed"
    assert failed["error"]["type"] == "MapItemsFailed", failed["error"]
    message = failed["error"]["message"]
    assert message.startswith("step m failed: 1 of 4 items failed: item 2: "), message
    assert "invalid type" in message
    steps = await steps_of(api, failed["id"])
    assert steps["m"]["status"] == "failed" and steps["after"]["status"] == "cancelled"
    child = (await api.get(f"/api/jobs/{steps['m']['childJobId']}")).json()
    assert child["status"] == "failed" and child["error"]["type"] == "MapItemsFailed"
    items = await items_of(api, child["id"])
    assert [i["status"] for i in items["data"]] == ["succeeded"] * 2 + ["failed", "succeeded"]
    assert "invalid type" in items["data"][2]["error"]

    spec["steps"][1]["continueOnError"] = True
    tolerant = await save(api, "map-tolerant", spec)
    done = await run_to_end(api, (await start(api, tolerant["id"], {"rows": rows}))["id"])
    assert done["status"] == "completed", done
    output = done["result"]["m"]
    assert output["results"] == [1, 2, None, 4]
    assert (output["succeeded"], output["failed"]) == (3, 1)
    assert output["errors"][0]["index"] == 2 and "invalid type" in output["errors"][0]["error"]
    assert done["result"]["after"] == 4  # the next step reads the map's output
    steps = await steps_of(api, done["id"])
    assert steps["m"]["status"] == "completed" and steps["m"]["details"]["failed"] == 1


async def test_an_item_condition_skips_it(tenant: Tenant) -> None:
    api = tenant.api
    spec = doubling()
    spec["steps"][1]["step"] = {"kind": "transform", "expression": "item", "if": "item > `2`"}
    pipeline = await save(api, "map-if", spec)
    done = await run_to_end(api, (await start(api, pipeline["id"], {"rows": [1, 5, 2, 7]}))["id"])
    assert done["status"] == "completed", done
    assert done["result"]["m"]["results"] == [None, 5, None, 7]
    assert done["result"]["m"]["skipped"] == 2


async def test_an_empty_list_maps_to_no_results(tenant: Tenant) -> None:
    api = tenant.api
    pipeline = await save(api, "map-empty", doubling())
    done = await run_to_end(api, (await start(api, pipeline["id"], {"rows": []}))["id"])
    assert done["status"] == "completed", done
    assert done["result"]["m"]["results"] == [] and done["result"]["m"]["total"] == 0


async def test_items_that_are_not_a_list_fail_the_step_readably(tenant: Tenant) -> None:
    api = tenant.api
    spec = doubling()
    spec["inputs"] = {"rows": {"type": "object"}}  # a list of it is known at run time only
    pipeline = await save(api, "map-not-a-list", spec)
    done = await run_to_end(api, (await start(api, pipeline["id"], {"rows": {"a": 1}}))["id"])
    assert done["status"] == "failed"
    assert done["error"]["type"] == "MapItemsNotAList", done["error"]
    assert "items must be a list" in done["error"]["message"]


def slow_receiver() -> tuple[Starlette, dict[str, int]]:
    seen = {"now": 0, "peak": 0, "calls": 0}

    async def work(request: Request) -> Response:
        seen["calls"] += 1
        seen["now"] += 1
        seen["peak"] = max(seen["peak"], seen["now"])
        try:
            await asyncio.sleep(0.3)
        finally:
            seen["now"] -= 1
        n = int(request.path_params["n"])
        if n == 13:
            return Response("unlucky", status_code=404)
        return JSONResponse({"n": n})

    return Starlette(routes=[Route("/work/{n}", work)]), seen


@pytest.fixture
async def allowed(stack: Stack) -> AsyncIterator[Stack]:
    """A stack whose http steps may call 127.0.0.1 (its own task queue and workers)."""
    async with open_stack(
        stack, task_queue=f"tq-{uuid.uuid4().hex[:8]}", pipeline_http_allow=["127.0.0.1"]
    ) as built:
        yield built


async def test_a_map_keeps_to_its_concurrency(allowed: Stack) -> None:
    app, seen = slow_receiver()
    account = await new_tenant(allowed)
    async with serving(app) as url, allowed.client(account.key) as api:
        spec = {
            "inputs": {"ns": {"type": "array"}},
            "steps": [
                {
                    "id": "calls",
                    "kind": "map",
                    "items": "${inputs.ns}",
                    "concurrency": 3,
                    "continueOnError": True,
                    "step": {"kind": "http", "url": f"{url}/work/${{item}}"},
                }
            ],
            "outputs": {"calls": "${steps.calls.output}"},
        }
        pipeline = await save(api, "map-http", spec)
        ns = list(range(10, 22))
        began = time.monotonic()
        done = await run_to_end(api, (await start(api, pipeline["id"], {"ns": ns}))["id"])
        took = time.monotonic() - began
    assert done["status"] == "completed", done
    assert seen["peak"] == 3, seen  # never more than 3 at once, and 3 did run together
    assert took >= 12 / 3 * 0.3  # 4 rounds of 0.3 s at the least
    output = done["result"]["calls"]
    assert [r["body"]["n"] if r else None for r in output["results"]] == [
        n if n != 13 else None for n in ns
    ]
    # The 404 is not retried (an unexpected status); it fails its item alone.
    assert seen["calls"] == len(ns)
    assert output["failed"] == 1 and output["errors"][0]["index"] == 3
    assert "answered 404" in output["errors"][0]["error"]


async def test_a_map_of_job_steps_runs_child_jobs_in_a_window(tenant: Tenant) -> None:
    api = tenant.api
    spec = {
        "inputs": {"sizes": {"type": "array"}},
        "steps": [
            {
                "id": "jobs",
                "kind": "map",
                "items": "${inputs.sizes}",
                "concurrency": 2,
                "continueOnError": True,
                "step": {
                    "kind": "job",
                    "jobType": "test-steps",
                    "jobName": "size ${item}",
                    "data": {"steps": "${item}", "step_seconds": 0.05},
                },
            }
        ],
        "outputs": {"jobs": "${steps.jobs.output}"},
    }
    pipeline = await save(api, "map-jobs", spec)
    sizes: list[Any] = [2, 1, "many", 3, 2, 1]
    done = await run_to_end(api, (await start(api, pipeline["id"], {"sizes": sizes}))["id"])
    assert done["status"] == "completed", done
    output = done["result"]["jobs"]
    assert [r["steps"] if r else None for r in output["results"]] == [2, 1, None, 3, 2, 1]
    assert output["failed"] == 1 and "data.steps" in output["errors"][0]["error"]
    map_job = (await steps_of(api, done["id"]))["jobs"]["childJobId"]
    children = (await api.get("/api/jobs", params={"parent": map_job, "limit": 50})).json()
    children = children["data"]
    assert sorted(c["name"] for c in children) == sorted(f"size {s}" for s in sizes if s != "many")
    assert all(c["status"] == "completed" and c["type"] == "test-steps" for c in children)
    # A sliding window of 2: no moment had three of them running.
    spans = [
        (datetime.fromisoformat(c["startedAt"]), datetime.fromisoformat(c["finishedAt"]))
        for c in children
    ]
    assert max(sum(1 for a, b in spans if a <= start < b) for start, _ in spans) <= 2
    items = await items_of(api, map_job)
    by_key = {i["key"]: i for i in items["data"]}
    assert by_key["2"]["status"] == "failed" and "jobId" not in (by_key["2"]["result"] or {})
    assert {by_key[k]["result"]["jobId"] for k in by_key if k != "2"} == {c["id"] for c in children}


async def test_cancelling_a_run_cancels_its_map_and_the_map_s_children(tenant: Tenant) -> None:
    api = tenant.api
    spec = {
        "steps": [
            {
                "id": "slow",
                "kind": "map",
                "items": [1000, 1000, 1000],
                "concurrency": 2,
                "step": {
                    "kind": "job",
                    "jobType": "test-steps",
                    "data": {"steps": "${item}", "step_seconds": 0.05},
                },
            }
        ]
    }
    pipeline = await save(api, "map-cancel", spec)
    run = await start(api, pipeline["id"])
    await wait_for_step(api, run["id"], "slow", "running")
    deadline = time.monotonic() + 30
    map_job, active = None, []
    while len(active) < 2 and time.monotonic() < deadline:  # two children under way
        map_job = (await steps_of(api, run["id"]))["slow"]["childJobId"]
        if map_job:
            listed = (await api.get("/api/jobs", params={"parent": map_job})).json()["data"]
            active = [c for c in listed if c["status"] == "active"]
        await asyncio.sleep(0.05)
    assert map_job and len(active) == 2, active
    assert (await api.patch(f"/api/jobs/{run['id']}/cancel")).status_code == 202
    assert (await run_to_end(api, run["id"]))["status"] == "cancelled"
    assert (await run_to_end(api, map_job))["status"] == "cancelled"
    children = (await api.get("/api/jobs", params={"parent": map_job})).json()["data"]
    assert len(children) == 2  # the third item never started
    for child in children:
        assert (await run_to_end(api, child["id"]))["status"] == "cancelled"


async def test_a_window_of_child_jobs_continues_as_new(stack: Stack, tenant: Tenant) -> None:
    """A map of job steps starts a fresh history every `childrenPerRun` children (500 in a
    run's map; 3 here, by starting the map's workflow directly), and no item is lost or
    run twice across the runs."""
    sizes: list[Any] = [1, 2, "bad", 1, 2, 1, 1]
    data = PipelineMapData(
        step_id="m",
        step={"kind": "job", "jobType": "test-steps", "data": {"steps": "${item}"}},
        items=sizes,
        concurrency=2,
        continue_on_error=True,
        children_per_run=3,
    )
    spec = JobSpec(
        job_id=str(uuid.uuid4()),
        organization_id=tenant.account.organization_id,
        user_id=tenant.account.user_id,
        type="pipeline-map",
        name="map across runs",
        data=data.model_dump(mode="json", by_alias=True),
        created_at=datetime.now(UTC).isoformat(),
    )
    temporal = stack.runtime.temporal
    handle = await temporal.start_workflow(
        PipelineMapWorkflow.run, spec, id=spec.job_id, task_queue=stack.settings.task_queue
    )
    result = await asyncio.wait_for(handle.result(), timeout=90)
    assert result is not None
    assert [r["steps"] if r else None for r in result["output"]["results"]] == [
        1,
        2,
        None,
        1,
        2,
        1,
        1,
    ]
    assert (result["succeeded"], result["failed"]) == (6, 1)
    runs = [r async for r in temporal.list_workflows(f"WorkflowId = '{spec.job_id}'")]
    assert len(runs) == 2, runs  # 6 children, 3 a run (the bad item starts none)
    children = (
        await tenant.api.get("/api/jobs", params={"parent": spec.job_id, "limit": 50})
    ).json()["data"]
    assert len(children) == 6 and all(c["status"] == "completed" for c in children)
    items = await items_of(tenant.api, spec.job_id)
    assert [i["status"] for i in items["data"]] == ["succeeded"] * 2 + ["failed"] + [
        "succeeded"
    ] * 4


async def test_a_map_job_is_not_started_by_hand(tenant: Tenant) -> None:
    response = await tenant.api.post(
        "/api/jobs",
        json={
            "type": "pipeline-map",
            "name": "by hand",
            "data": {"stepId": "m", "items": [1], "step": {"kind": "transform", "expression": "@"}},
        },
    )
    assert response.status_code == 422, response.text
    assert "started by a pipeline run's map step" in response.json()["detail"]


async def test_ten_thousand_items_keep_a_small_history(stack: Stack, tenant: Tenant) -> None:
    api = tenant.api
    rows = list(range(10_000))
    spec = doubling(concurrency=10)
    spec["steps"][1]["step"] = {"kind": "transform", "expression": "item"}
    pipeline = await save(api, "map-10k", spec)
    run = await start(api, pipeline["id"], {"rows": rows})
    done = await run_to_end(api, run["id"], within=120)
    assert done["status"] == "completed", done
    # The 10,000 results are in file storage; the run holds a marker to them.
    assert set(done["result"]["m"]) == {"$blob", "bytes"} and done["result"]["after"] == 10_000
    output = (await api.get(f"/api/jobs/{run['id']}/steps/m/output")).json()
    assert output["results"] == rows and output["succeeded"] == 10_000
    map_job = (await steps_of(api, run["id"]))["m"]["childJobId"]
    assert (await items_of(api, map_job))["counts"]["succeeded"] == 10_000
    temporal = stack.runtime.temporal
    run_events = len((await temporal.get_workflow_handle(run["id"]).fetch_history()).events)
    map_events = 0
    async for execution in temporal.list_workflows(f"WorkflowId = '{map_job}'"):
        handle = temporal.get_workflow_handle(map_job, run_id=execution.run_id)
        map_events += len((await handle.fetch_history()).events)
    assert run_events <= RUN_EVENTS_MAX, run_events
    assert 0 < map_events <= MAP_EVENTS_MAX, map_events


def bad_map(**fields: Any) -> dict[str, Any]:
    step = {
        "id": "m",
        "kind": "map",
        "items": "${inputs.rows}",
        "step": {"kind": "transform", "expression": "item"},
    }
    return {
        "inputs": {"rows": {"type": "array"}, "n": {"type": "integer"}},
        "steps": [{**step, **fields}],
    }


BAD_MAPS: list[tuple[str, Any, str, str]] = [
    ("no items", bad_map(items=None), "steps.m.items", "must be a list"),
    ("items not a list", bad_map(items={"a": 1}), "steps.m.items", "got object"),
    (
        "items a string, not a reference",
        bad_map(items="rows"),
        "steps.m.items",
        "one reference to a list",
    ),
    ("items an input that is no array", bad_map(items="${inputs.n}"), "steps.m.items", "integer"),
    ("items an unknown step", bad_map(items="${steps.x.output}"), "steps.m.items", "unknown step"),
    ("items read the item", bad_map(items="${item}"), "steps.m.items", "only in a map's step"),
    ("concurrency 0", bad_map(concurrency=0), "steps.m.concurrency", "greater than or equal"),
    ("concurrency 101", bad_map(concurrency=101), "steps.m.concurrency", "less than or equal"),
    ("no step", bad_map(step=None), "steps.m.step", "must be a step"),
    (
        "a step of a kind a map does not run",
        bad_map(step={"kind": "approval"}),
        "steps.m.step.kind",
        "not 'approval'",
    ),
    (
        "a map in a map",
        bad_map(step={"kind": "map", "items": [], "step": {}}),
        "steps.m.step.kind",
        "not 'map'",
    ),
    (
        "a step with dependsOn",
        bad_map(step={"kind": "transform", "expression": "@", "dependsOn": ["m"]}),
        "steps.m.step.dependsOn",
        "put dependsOn on the map",
    ),
    (
        "a step missing a field",
        bad_map(step={"kind": "http"}),
        "steps.m.step.url",
        "Field required",
    ),
    (
        "a step reading an unknown input",
        bad_map(step={"kind": "transform", "expression": "@", "input": "${inputs.zz}"}),
        "steps.m.step.input",
        "unknown input 'zz'",
    ),
    (
        "a step with a bad expression",
        bad_map(step={"kind": "transform", "expression": "[[["}),
        "steps.m.step.expression",
        "not a JMESPath expression",
    ),
    (
        "a step's job of an unknown type",
        bad_map(step={"kind": "job", "jobType": "no-such-type"}),
        "steps.m.step.jobType",
        "unknown job type 'no-such-type'",
    ),
    (
        "a step's job data of the wrong type",
        bad_map(step={"kind": "job", "jobType": "test-steps", "data": {"steps": "many"}}),
        "steps.m.step.data.steps",
        "valid integer",
    ),
    ("retry on the map", bad_map(retry={"maxAttempts": 2}), "steps.m.retry", "retries each item"),
    (
        "the item outside a map",
        {"steps": [{"id": "t", "kind": "transform", "expression": "@", "input": "${item.a}"}]},
        "steps.t.input",
        "known only in a map's step",
    ),
    (
        "a job step of the map's own type",
        {"steps": [{"id": "j", "kind": "job", "jobType": "pipeline-map"}]},
        "steps.j.jobType",
        "use a map step",
    ),
]


@pytest.mark.parametrize(
    ("spec", "field", "message"), [b[1:] for b in BAD_MAPS], ids=[b[0] for b in BAD_MAPS]
)
async def test_a_bad_map_is_refused_on_save(
    tenant: Tenant, spec: Any, field: str, message: str
) -> None:
    response = await tenant.api.post("/api/pipelines", json={"name": "bad-map", "spec": spec})
    assert response.status_code == 422, response.text
    body = response.json()
    assert any(e["field"] == field and message in e["message"] for e in body["errors"]), body
    listed = await tenant.api.get("/api/pipelines", params={"name": "bad-map", "archived": "true"})
    assert listed.json()["data"] == []
