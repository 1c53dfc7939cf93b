"""Each bad input gets a clear 4xx with a message, and nothing is created."""

from __future__ import annotations

import pytest

from tests.conftest import Stack, Tenant


async def _job_count(tenant: Tenant) -> int:
    response = await tenant.api.get("/api/jobs/stats")
    assert response.status_code == 200
    total: int = response.json()["total"]
    return total


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"type": "no-such-type", "name": "x"},
            422,
            "unknown job type 'no-such-type'; known types: bulk-operation, data-conversion, "
            "dataset-validation, document-processing, fine-tuning, model-publish, "
            "model-training, pipeline-map, test-steps, workflow-execution",
        ),
        (
            {"type": "test-steps", "name": "x", "data": {"steps": -1}},
            422,
            "invalid data for a test-steps job: data.steps: Input should be greater than or "
            "equal to 0",
        ),
        (
            {"type": "test-steps", "name": "x", "data": {"steps": "many"}},
            422,
            "data.steps: Input should be a valid integer",
        ),
        (
            {"type": "bulk-operation", "name": "x", "data": {"action": "explode"}},
            422,
            "data.action: Input should be 'cancel' or 'retry'",
        ),
        (
            {"type": "bulk-operation", "name": "x", "data": {"action": "cancel", "colour": 1}},
            422,
            "data.colour: Extra inputs are not permitted",
        ),
        ({"type": "test-steps"}, 422, "name: Field required"),
        ({"type": "test-steps", "name": ""}, 422, "name: String should have at least 1 character"),
        (
            {"type": "test-steps", "name": "x", "priority": 9},
            422,
            "priority: Input should be less than or equal to 5",
        ),
        (
            {"type": "test-steps", "name": "x", "data": [1, 2]},
            422,
            "data: Input should be a valid dictionary",
        ),
        (
            {"type": "test-steps", "name": "x", "owner": "me"},
            422,
            "owner: Extra inputs are not permitted",
        ),
    ],
)
async def test_invalid_create_is_refused_with_a_message(
    tenant: Tenant, body: dict[str, object], status: int, message: str
) -> None:
    before = await _job_count(tenant)
    response = await tenant.api.post("/api/jobs", json=body)
    assert response.status_code == status
    assert message in response.json()["detail"]
    assert await _job_count(tenant) == before


async def test_malformed_json_is_refused(tenant: Tenant) -> None:
    response = await tenant.api.post(
        "/api/jobs",
        content=b'{"type": "test-steps", "name": ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert "JSON decode error" in response.json()["detail"]
    assert await _job_count(tenant) == 0


async def test_oversize_body_gets_413_and_creates_nothing(stack: Stack, tenant: Tenant) -> None:
    huge = "x" * (stack.settings.max_request_bytes + 1)
    response = await tenant.api.post(
        "/api/jobs", json={"type": "test-steps", "name": "big", "description": huge}
    )
    assert response.status_code == 413
    assert "larger than the limit" in response.json()["detail"]
    assert await _job_count(tenant) == 0


async def test_oversize_body_without_length_gets_413(stack: Stack, tenant: Tenant) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(stack.settings.max_request_bytes // 65536 + 2):
            yield b"x" * 65536

    response = await tenant.api.post(
        "/api/jobs", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


@pytest.mark.parametrize("cursor", ["garbage!", "bm90IGpzb24", "WzEsMl0"])
async def test_bad_cursor_is_refused(tenant: Tenant, cursor: str) -> None:
    response = await tenant.api.get("/api/jobs", params={"cursor": cursor})
    assert response.status_code == 422
    assert "cursor is not one this API gave out" in response.json()["detail"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": "sleeping"}, "unknown status 'sleeping'; one of: active, cancelled"),
        ({"limit": "0"}, "limit: Input should be greater than or equal to 1"),
        ({"limit": "many"}, "limit: Input should be a valid integer"),
    ],
)
async def test_bad_list_parameters_are_refused(
    tenant: Tenant, params: dict[str, str], message: str
) -> None:
    response = await tenant.api.get("/api/jobs", params=params)
    assert response.status_code == 422
    assert message in response.json()["detail"]


async def test_unknown_job_id_answers_404(tenant: Tenant) -> None:
    for method, path in [
        ("GET", "/api/jobs/nope"),
        ("GET", "/api/jobs/nope/events"),
        ("PATCH", "/api/jobs/nope/cancel"),
        ("POST", "/api/jobs/nope/retry"),
    ]:
        response = await tenant.api.request(method, path)
        assert response.status_code == 404, (method, path)
        assert response.json()["detail"] == "job nope not found"
