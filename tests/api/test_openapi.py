"""The OpenAPI document tells the truth: 422 bodies are `{detail: str, errors: [{field,
message}]}` (what the app's handler sends), and the dataset upload's multipart body is
documented."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Stack, Tenant

REF = "#/components/schemas/"


@pytest.fixture
async def document(stack: Stack) -> dict[str, Any]:
    async with stack.client(None) as api:
        response = await api.get("/openapi.json")
    assert response.status_code == 200
    loaded: dict[str, Any] = response.json()
    return loaded


def _schema(document: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith(REF), ref
    found: dict[str, Any] = document["components"]["schemas"][ref.removeprefix(REF)]
    return found


def _422(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    response = document["paths"][path][method]["responses"]["422"]
    return _schema(document, response["content"]["application/json"]["schema"]["$ref"])


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/jobs", "post"),
        ("/api/jobs", "get"),
        ("/api/keys", "post"),
        ("/api/fine-tuning/jobs", "post"),
        ("/api/models/{model_id}/publish", "post"),
        ("/api/datasets", "post"),
    ],
)
def test_422_responses_are_documented_as_sent(
    document: dict[str, Any], path: str, method: str
) -> None:
    schema = _422(document, path, method)
    assert schema["required"] == ["detail"]
    assert schema["properties"]["detail"]["type"] == "string"
    errors = schema["properties"]["errors"]
    assert errors["type"] == "array"
    item = _schema(document, errors["items"]["$ref"])
    assert item["required"] == ["field", "message"]
    assert {name: p["type"] for name, p in item["properties"].items()} == {
        "field": "string",
        "message": "string",
    }


def test_no_operation_documents_fastapis_own_422(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    refs = {
        response["content"]["application/json"]["schema"]["$ref"]
        for operations in document["paths"].values()
        for operation in operations.values()
        for status, response in operation["responses"].items()
        if status == "422"
    }
    assert refs == {REF + "ValidationProblem"}


def test_the_upload_body_is_documented(document: dict[str, Any]) -> None:
    body = document["paths"]["/api/datasets"]["post"]["requestBody"]
    assert body["required"] is True
    schema = body["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["file"]
    assert schema["properties"]["file"] == {
        "type": "string",
        "format": "binary",
        "description": schema["properties"]["file"]["description"],
    }
    assert schema["properties"]["name"]["maxLength"] == 255
    assert "csv" in schema["properties"]["format"]["enum"]


async def test_sent_422s_match_the_documented_shape(
    document: dict[str, Any], tenant: Tenant
) -> None:
    documented = set(_422(document, "/api/jobs", "post")["properties"])
    for response in (
        await tenant.api.post("/api/jobs", json={"type": "test-steps", "name": ""}),
        await tenant.api.get("/api/jobs", params={"limit": 0}),
        await tenant.api.get("/api/jobs", params={"q": "\x00"}),
        await tenant.api.post("/api/jobs", json={"type": "nope", "name": "x"}),
    ):
        assert response.status_code == 422
        body = response.json()
        assert set(body) <= documented and isinstance(body["detail"], str)
        for error in body.get("errors", []):
            assert set(error) == {"field", "message"}
            assert all(isinstance(v, str) for v in error.values())
