"""GET /api/jobs/types gives each type's input JSON Schema: what the dashboard's new-job
form is generated from, and what POST /api/jobs checks `data` against."""

from __future__ import annotations

from tests.conftest import Tenant


async def test_every_type_has_its_input_schema(tenant: Tenant) -> None:
    response = await tenant.api.get("/api/jobs/types")
    assert response.status_code == 200
    types = {t["name"]: t for t in response.json()}
    for name, job_type in types.items():
        schema = job_type["inputSchema"]
        assert schema["type"] == "object", name
        assert "properties" in schema, name
    conversion = types["data-conversion"]["inputSchema"]
    assert conversion["required"] == ["datasetId", "outputFormat"]  # the wire's camelCase
    assert conversion["additionalProperties"] is False
    steps = types["test-steps"]["inputSchema"]["properties"]["steps"]
    assert (steps["minimum"], steps["maximum"], steps["default"]) == (0, 100_000, 5)


async def test_what_the_schema_refuses_the_api_refuses(tenant: Tenant) -> None:
    response = await tenant.api.post(
        "/api/jobs", json={"type": "test-steps", "name": "x", "data": {"steps": 100_001}}
    )
    assert response.status_code == 422
    assert "data.steps: Input should be less than or equal to 100000" in response.json()["detail"]
    response = await tenant.api.post(
        "/api/jobs", json={"type": "data-conversion", "name": "x", "data": {"outputFormat": "csv"}}
    )
    assert response.status_code == 422
    assert "data.datasetId: Field required" in response.json()["detail"]
