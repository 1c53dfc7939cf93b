"""Text the databases cannot store (NUL; unpaired surrogates, which JSON's \\uXXXX escapes
can carry) is refused at the edge with a 422 naming the field, before any job is created or
workflow started: in every body the API takes, nested `data` included, and in uploads."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, get_args

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import BaseRoute

from jobdeck.api.app import create_app
from jobdeck.api.text import StorableText
from tests.conftest import Stack, Tenant
from tests.datasets.conftest import dataset_ids, qa_csv, scratch_files

NUL = "\x00"


async def _post_json(tenant: Tenant, path: str, body: Any) -> Any:
    # json.dumps writes "\\u0000" and "\\ud800": the escapes a client sends.
    return await tenant.api.post(
        path, content=json.dumps(body), headers={"content-type": "application/json"}
    )


async def _job_total(tenant: Tenant) -> int:
    total: int = (await tenant.api.get("/api/jobs/stats")).json()["total"]
    return total


def _refused(response: Any, field: str, what: str = "a NUL character") -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert f"{field}: contains {what}" in body["detail"], body
    assert {"field": field, "message": body["errors"][0]["message"]} in body["errors"]


@pytest.mark.parametrize(
    ("body", "field", "what"),
    [
        ({"name": f"a{NUL}b"}, "name", "a NUL character"),
        ({"description": f"{NUL}"}, "description", "a NUL character"),
        ({"type": f"test-steps{NUL}"}, "type", "a NUL character"),
        ({"data": {"label": f"x{NUL}"}}, "data.label", "a NUL character"),
        ({"data": {"deep": {"list": ["ok", {"s": NUL}]}}}, "data.deep.list[1].s", "a NUL"),
        ({"data": {"a": {f"key{NUL}": 1}}}, "data.a", "a NUL character (U+0000) in a key"),
        ({"name": "lone \ud800 half"}, "name", "an unpaired surrogate (U+D800)"),
        ({"data": {"x": ["\udfff"]}}, "data.x[0]", "an unpaired surrogate"),
    ],
)
async def test_job_create_refuses_unstorable_text_and_starts_nothing(
    tenant: Tenant, body: dict[str, Any], field: str, what: str
) -> None:
    before = await _job_total(tenant)
    response = await _post_json(tenant, "/api/jobs", {"type": "test-steps", "name": "x", **body})
    _refused(response, field, what)
    assert await _job_total(tenant) == before


async def test_paired_surrogates_and_other_text_are_fine(tenant: Tenant) -> None:
    name = "emoji \U0001f600 ü 数据 \t tab"
    response = await _post_json(
        tenant, "/api/jobs", {"type": "test-steps", "name": name, "data": {"steps": 0}}
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == name


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/users", {"email": "a@example.com", "name": f"x{NUL}"}, "name"),
        ("/api/users", {"email": f"a{NUL}@example.com", "name": "x"}, "email"),
        ("/api/keys", {"name": f"ci{NUL}"}, "name"),
        (
            "/api/fine-tuning/jobs",
            {"name": f"ft{NUL}", "datasetId": "d", "baseModel": "m", "provider": "openai"},
            "name",
        ),
        (
            "/api/fine-tuning/jobs",
            {
                "name": "ft",
                "datasetId": "d",
                "baseModel": "m",
                "provider": "ollama",
                "parameters": {"stop": ["a", f"b{NUL}"]},
            },
            "parameters.stop[1]",
        ),
        ("/api/models/some-model/publish", {"baseModel": f"llama{NUL}"}, "baseModel"),
        ("/api/datasets/some-dataset/validate", {"model": f"gpt{NUL}"}, "model"),
    ],
)
async def test_every_body_refuses_unstorable_text(
    tenant: Tenant, path: str, body: dict[str, Any], field: str
) -> None:
    before = await _job_total(tenant)
    _refused(await _post_json(tenant, path, body), field)
    assert await _job_total(tenant) == before


def _api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # an included router
        if included is not None:
            yield from _api_routes(included.routes)


def test_every_json_body_of_the_api_is_checked() -> None:
    """The one mechanism: every request body model derives from StorableText, so a new
    route's body is checked too."""
    app = create_app()
    bodies = [
        (route.path, model)
        for route in _api_routes(app.routes)
        if route.body_field is not None
        for model in get_args(route.body_field.field_info.annotation)
        or [route.body_field.field_info.annotation]
        if model is not type(None)
    ]
    assert len(bodies) >= 6, bodies
    for path, model in bodies:
        assert isinstance(model, type), path
        assert issubclass(model, BaseModel) and issubclass(model, StorableText), path


def _multipart(filename: str, name: str | None = None) -> bytes:
    parts = []
    if name is not None:
        parts.append(
            b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\n' + name.encode() + b"\r\n"
        )
    parts.append(
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="'
        + filename.encode()
        + b'"\r\n\r\n'
        + qa_csv()
        + b"\r\n"
    )
    return b"".join(parts) + b"--b--\r\n"


@pytest.mark.parametrize(
    ("filename", "name", "field"),
    [
        (f"qa{NUL}.csv", None, "filename"),
        ("qa.csv", f"my{NUL}data", "name"),
    ],
)
async def test_upload_refuses_a_nul_in_its_name_and_keeps_nothing(
    stack: Stack, tenant: Tenant, filename: str, name: str | None, field: str
) -> None:
    response = await tenant.api.post(
        "/api/datasets",
        content=_multipart(filename, name),
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    _refused(response, field)
    assert await dataset_ids(tenant.api) == []
    assert scratch_files(stack) == []


@pytest.mark.parametrize(
    ("method", "path", "params", "field"),
    [
        ("GET", "/api/jobs", {"q": f"a{NUL}"}, "query.q"),
        ("GET", "/api/jobs", {"type": f"t{NUL}", "limit": "5"}, "query.type"),
        ("GET", "/api/datasets", {"q": f"a{NUL}"}, "query.q"),
        ("GET", "/api/jobs", {"cursor": NUL}, "query.cursor"),
        ("GET", "/api/jobs/a%00b", {}, "path"),
        ("GET", "/api/datasets/a%00b/download", {}, "path"),
        ("DELETE", "/api/keys/a%00b", {}, "path"),
    ],
)
async def test_query_and_path_text_is_checked_too(
    tenant: Tenant, method: str, path: str, params: dict[str, str], field: str
) -> None:
    """Searches and ids reach the database as well (on PostgreSQL these were 500s)."""
    _refused(await tenant.api.request(method, path, params=params), field)
