"""Pipeline definitions: each save is a new immutable version, checked first (nothing
invalid is stored), with errors that name the step and the field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Tenant

SPEC: dict[str, Any] = {
    "inputs": {"rows": {"type": "array"}, "label": {"type": "string", "default": "x"}},
    "steps": [
        {"id": "count", "kind": "transform", "expression": "length(@)", "input": "${inputs.rows}"},
        {"id": "pause", "kind": "sleep", "seconds": "10ms", "dependsOn": ["count"]},
        {
            "id": "report",
            "kind": "transform",
            "expression": "{n: n, label: label}",
            "input": {"n": "${steps.count.output}", "label": "${inputs.label}"},
            "dependsOn": ["pause"],
        },
    ],
    "outputs": {"report": "${steps.report.output}"},
}

YAML_SPEC = """
inputs:
  who: {type: string}
steps:
  - id: greet
    kind: transform
    expression: "join(' ', ['hello', who])"
    input: {who: "${inputs.who}"}
outputs:
  greeting: ${steps.greet.output}
"""


async def create(api: Any, name: str, spec: Any, **extra: Any) -> Any:
    return await api.post("/api/pipelines", json={"name": name, "spec": spec, **extra})


async def test_versions_are_immutable_and_numbered(tenant: Tenant) -> None:
    api = tenant.api
    response = await create(api, "etl", SPEC, description="counts rows")
    assert response.status_code == 201, response.text
    pipeline = response.json()
    assert pipeline["latestVersion"] == 1 and pipeline["spec"]["steps"][0]["id"] == "count"
    changed = {**SPEC, "outputs": {"n": "${steps.count.output}"}}
    second = await api.put(f"/api/pipelines/{pipeline['id']}", json={"spec": changed})
    assert second.status_code == 201, second.text
    assert second.json()["version"] == 2
    third = await api.post(f"/api/pipelines/{pipeline['id']}/versions", json={"spec": YAML_SPEC})
    assert third.json()["version"] == 3
    v1 = (await api.get(f"/api/pipelines/{pipeline['id']}/versions/1")).json()
    assert v1["spec"]["outputs"] == {"report": "${steps.report.output}"}
    versions = (await api.get(f"/api/pipelines/{pipeline['id']}/versions")).json()["data"]
    assert [v["version"] for v in versions] == [3, 2, 1]
    latest = (await api.get(f"/api/pipelines/{pipeline['id']}")).json()
    assert latest["latestVersion"] == 3 and latest["spec"]["steps"][0]["id"] == "greet"
    missing = await api.get(f"/api/pipelines/{pipeline['id']}/versions/9")
    assert missing.status_code == 404


async def test_yaml_is_accepted(tenant: Tenant) -> None:
    response = await create(tenant.api, "hello", YAML_SPEC)
    assert response.status_code == 201, response.text
    assert response.json()["spec"]["inputs"] == {"who": {"type": "string"}}


async def test_list_archive_and_restore(tenant: Tenant) -> None:
    api = tenant.api
    pipeline = (await create(api, "to-archive", SPEC)).json()
    listed = (await api.get("/api/pipelines", params={"name": "to-archive"})).json()["data"]
    assert [p["id"] for p in listed] == [pipeline["id"]]
    archived = await api.delete(f"/api/pipelines/{pipeline['id']}")
    assert archived.status_code == 200 and archived.json()["archived"] is True
    assert (await api.get("/api/pipelines")).json()["data"] == []
    everything = (await api.get("/api/pipelines", params={"archived": "true"})).json()["data"]
    assert [p["id"] for p in everything] == [pipeline["id"]]
    # An archived pipeline starts no run; saving a version restores it.
    run = await api.post(f"/api/pipelines/{pipeline['id']}/run", json={"inputs": {"rows": []}})
    assert run.status_code == 422 and "archived" in run.json()["detail"]
    await api.put(f"/api/pipelines/{pipeline['id']}", json={"spec": SPEC})
    assert (await api.get(f"/api/pipelines/{pipeline['id']}")).json()["archived"] is False
    again = await create(api, "to-archive", SPEC)
    assert again.status_code == 409 and pipeline["id"] in again.json()["detail"]


async def test_schema_is_published(tenant: Tenant) -> None:
    schema = (await tenant.api.get("/api/pipelines/schema")).json()
    assert schema["title"] == "jobdeck pipeline"
    kinds = {
        d["properties"]["kind"]["const"]
        for d in schema["$defs"].values()
        if "kind" in d.get("properties", {})
    }
    # A map's own step is one of transform, http, llm, job (its definitions carry those kinds).
    assert kinds == {"transform", "sleep", "wait", "job", "approval", "http", "llm", "map"}
    map_step = schema["$defs"]["MapStep"]["properties"]
    assert set(map_step["step"]["oneOf"][0]) == {"$ref"} and len(map_step["step"]["oneOf"]) == 4
    assert map_step["concurrency"]["maximum"] == 100


async def test_another_organizations_pipeline_is_not_found(tenant: Tenant, stack: Any) -> None:
    from tests.conftest import new_tenant

    pipeline = (await create(tenant.api, "private", SPEC)).json()
    other = await new_tenant(stack)
    async with stack.client(other.key) as api:
        assert (await api.get(f"/api/pipelines/{pipeline['id']}")).status_code == 404
        assert (await api.delete(f"/api/pipelines/{pipeline['id']}")).status_code == 404


def step(id: str, **fields: Any) -> dict[str, Any]:
    return {"id": id, "kind": "transform", "expression": "@", **fields}


def llm(id: str, schema: Any) -> dict[str, Any]:
    return {"id": id, "kind": "llm", "model": "m", "prompt": "p", "responseSchema": schema}


BAD: list[tuple[str, Any, str, str]] = [
    (
        "unknown step in dependsOn",
        {"steps": [step("a", dependsOn=["nope"])]},
        "steps.a.dependsOn",
        "unknown step 'nope'",
    ),
    (
        "unknown step in a reference",
        {"steps": [step("a", input="${steps.ghost.output}")]},
        "steps.a.input",
        "unknown step 'ghost'",
    ),
    (
        "unknown input in a reference",
        {"inputs": {"x": {}}, "steps": [step("a", input={"v": "${inputs.y}"})]},
        "steps.a.input.v",
        "unknown input 'y'",
    ),
    (
        "a reference that is not one",
        {"steps": [step("a", input="${oops}")]},
        "steps.a.input",
        "is not a reference",
    ),
    (
        "a cycle, named",
        {
            "steps": [
                step("a", dependsOn=["c"]),
                step("b", input="${steps.a.output}"),
                step("c", dependsOn=["b"]),
            ]
        },
        "steps.a.dependsOn",
        "cycle: a -> c -> b -> a",
    ),
    (
        "unknown job type",
        {"steps": [{"id": "j", "kind": "job", "jobType": "no-such-type"}]},
        "steps.j.jobType",
        "unknown job type 'no-such-type'",
    ),
    (
        "job data of the wrong type",
        {"steps": [{"id": "j", "kind": "job", "jobType": "test-steps", "data": {"steps": "many"}}]},
        "steps.j.data.steps",
        "valid integer",
    ),
    (
        "job data missing a required field",
        {
            "steps": [
                {
                    "id": "conv",
                    "kind": "job",
                    "jobType": "data-conversion",
                    "data": {"outputFormat": "csv"},
                }
            ]
        },
        "steps.conv.data.datasetId",
        "Field required",
    ),
    (
        "a step missing a required field",
        {"steps": [{"id": "nap", "kind": "sleep"}]},
        "steps.nap.seconds",
        "Field required",
    ),
    (
        "a step field of the wrong type",
        {
            "steps": [
                {"id": "t", "kind": "transform", "expression": "@", "continueOnError": "maybe"}
            ]
        },
        "steps.t.continueOnError",
        "valid boolean",
    ),
    (
        "an input default of the wrong type",
        {"inputs": {"n": {"type": "integer", "default": "ten"}}, "steps": [step("a")]},
        "inputs.n.default",
        "expected integer, got string",
    ),
    (
        "an unknown step kind",
        {"steps": [{"id": "x", "kind": "teleport"}]},
        "steps.x.kind",
        "unknown step kind 'teleport'",
    ),
    (
        "a duplicate step id",
        {"steps": [step("a"), step("a")]},
        "steps.a.id",
        "another step has this id",
    ),
    (
        "a bad JMESPath expression",
        {"steps": [{"id": "t", "kind": "transform", "expression": "[[["}]},
        "steps.t.expression",
        "not a JMESPath expression",
    ),
    (
        "a condition on an unknown step",
        {"steps": [step("a", **{"if": "steps.ghost.output"})]},
        "steps.a.if",
        "unknown step 'ghost'",
    ),
    ("no steps", {"steps": []}, "steps", "at least one step"),
    ("not YAML", "steps: [unclosed", "spec", "not JSON or YAML"),
    ("YAML aliases", "a: &x [1]\nsteps: *x", "spec", "aliases"),
    (
        "a bad duration",
        {"steps": [{"id": "s", "kind": "sleep", "seconds": "soon"}]},
        "steps.s.seconds",
        "not a duration",
    ),
    (
        "a default decision without a timeout",
        {"steps": [{"id": "ok", "kind": "approval", "defaultDecision": "approve"}]},
        "steps.ok.defaultDecision",
        "set timeout",
    ),
    (
        "an llm responseSchema that is not a JSON Schema",
        {"steps": [llm("rate", {"type": "object", "properties": {"score": {"type": "int"}}})]},
        "steps.rate.responseSchema",
        "not a valid JSON Schema: at /properties/score/type",
    ),
    (
        "an llm responseSchema with a remote $ref (never fetched)",
        {"steps": [llm("rate", {"$ref": "http://169.254.169.254/schema.json"})]},
        "steps.rate.responseSchema",
        "not a usable JSON Schema: Resource 'http://169.254.169.254/schema.json'",
    ),
    (
        "an llm responseSchema with a dangling $ref",
        {"steps": [llm("rate", {"$ref": "#/$defs/missing"})]},
        "steps.rate.responseSchema",
        "not a usable JSON Schema",
    ),
]


@pytest.mark.parametrize(
    ("spec", "field", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
async def test_an_invalid_spec_is_refused_and_nothing_stored(
    tenant: Tenant, spec: Any, field: str, message: str
) -> None:
    response = await create(tenant.api, "bad", spec)
    assert response.status_code == 422, response.text
    body = response.json()
    assert any(e["field"] == field and message in e["message"] for e in body["errors"]), body
    assert field in body["detail"]
    listed = await tenant.api.get("/api/pipelines", params={"name": "bad", "archived": "true"})
    assert listed.json()["data"] == []


async def test_an_invalid_new_version_is_refused(tenant: Tenant) -> None:
    pipeline = (await create(tenant.api, "keep", SPEC)).json()
    response = await tenant.api.put(
        f"/api/pipelines/{pipeline['id']}", json={"spec": {"steps": [step("a", dependsOn=["a"])]}}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"] == "cycle: a -> a"
    assert (await tenant.api.get(f"/api/pipelines/{pipeline['id']}")).json()["latestVersion"] == 1
