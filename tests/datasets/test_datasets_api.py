"""The datasets API: upload (streamed, limited), list, get, download, delete, tenancy."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from tests.conftest import Stack, Tenant, new_tenant
from tests.datasets.conftest import (
    dataset_ids,
    download,
    qa_csv,
    scratch_files,
    stored_files,
    upload,
)


async def test_upload_get_list_download_delete(stack: Stack, tenant: Tenant) -> None:
    content = qa_csv()
    dataset = await upload(tenant.api, "questions.csv", content)
    assert dataset["name"] == "questions.csv"
    assert dataset["format"] == "csv"
    assert dataset["sizeBytes"] == len(content)
    assert dataset["sha256"] == hashlib.sha256(content).hexdigest()
    assert dataset["owner"] == {
        "userId": tenant.account.user_id,
        "organizationId": tenant.account.organization_id,
    }
    assert (dataset["sourceDatasetId"], dataset["jobId"], dataset["validation"]) == (None,) * 3
    assert dataset["links"]["download"] == f"/api/datasets/{dataset['id']}/download"

    got = await tenant.api.get(f"/api/datasets/{dataset['id']}")
    assert got.json() == dataset
    named = await upload(tenant.api, "data.txt", b'{"a": 1}\n', name="renamed", format="jsonl")
    assert (named["name"], named["format"]) == ("renamed", "jsonl")
    assert await dataset_ids(tenant.api) == [named["id"], dataset["id"]]
    page = (await tenant.api.get("/api/datasets", params={"limit": 1})).json()
    second = await tenant.api.get(
        "/api/datasets", params={"limit": 1, "cursor": page["nextCursor"]}
    )
    assert [d["id"] for d in second.json()["data"]] == [dataset["id"]]
    only_csv = await tenant.api.get("/api/datasets", params={"format": "csv", "q": "QUEST"})
    assert [d["id"] for d in only_csv.json()["data"]] == [dataset["id"]]

    response = await tenant.api.get(f"/api/datasets/{dataset['id']}/download")
    assert response.content == content
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="questions.csv"' in response.headers["content-disposition"]

    before = stored_files(stack)
    assert (await tenant.api.delete(f"/api/datasets/{dataset['id']}")).status_code == 204
    assert (await tenant.api.get(f"/api/datasets/{dataset['id']}")).status_code == 404
    assert len(before - stored_files(stack)) == 1  # its file went with it


async def test_another_organizations_dataset_answers_404(stack: Stack, tenant: Tenant) -> None:
    dataset = await upload(tenant.api, "mine.csv", qa_csv())
    other = await new_tenant(stack)
    async with stack.client(other.key) as api:
        for method, path in [
            ("GET", f"/api/datasets/{dataset['id']}"),
            ("GET", f"/api/datasets/{dataset['id']}/download"),
            ("DELETE", f"/api/datasets/{dataset['id']}"),
            ("POST", f"/api/datasets/{dataset['id']}/validate"),
        ]:
            response = await api.request(method, path)
            assert response.status_code == 404, (method, path)
            assert response.json()["detail"] == f"dataset {dataset['id']} not found"
        assert await dataset_ids(api) == []
    assert await download(tenant.api, dataset["id"]) == qa_csv()


async def test_upload_over_the_limit_gets_413_and_leaves_nothing(
    stack: Stack, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = 256 * 1024
    monkeypatch.setattr(stack.settings, "dataset_max_upload_bytes", limit)
    before = stored_files(stack)
    # Larger than the API's general body limit too: uploads have their own.
    assert limit * 8 > stack.settings.max_request_bytes
    for size in (limit + 1, limit * 8):
        response = await tenant.api.post("/api/datasets", files={"file": ("big.csv", b"x" * size)})
        assert response.status_code == 413, response.text
        assert f"larger than the upload limit of {limit:,} bytes" in response.json()["detail"]

    # Streamed without a length (chunked): the limit holds all the same.
    async def body():  # type: ignore[no-untyped-def]
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n\r\n'
        for _ in range(limit // 65536 + 2):
            yield b"y" * 65536
        yield b"\r\n--b--\r\n"

    chunked = await tenant.api.post(
        "/api/datasets", content=body(), headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert chunked.status_code == 413
    assert scratch_files(stack) == []
    assert stored_files(stack) == before
    assert await dataset_ids(tenant.api) == []
    # Exactly at the limit is fine, and larger than JOBDECK_MAX_REQUEST_BYTES.
    monkeypatch.setattr(stack.settings, "dataset_max_upload_bytes", 2 * 1024 * 1024)
    big = await upload(tenant.api, "big.csv", b"a\n" + b"x\n" * (1024 * 1024 - 1))
    assert big["sizeBytes"] == 2 * 1024 * 1024


@pytest.mark.parametrize(
    ("files", "data", "status", "message"),
    [
        ({"file": ("notes.txt", b"hi")}, {}, 422, "cannot tell the format of 'notes.txt'"),
        ({"file": ("a.csv", b"hi")}, {"format": "pdf"}, 422, "unknown format 'pdf'"),
        ({"other": ("a.csv", b"hi")}, {}, 400, "send exactly one file, in the form field 'file'"),
        (None, {"name": "x"}, 415, "upload the file as multipart/form-data"),
    ],
)
async def test_bad_uploads_are_refused(
    stack: Stack,
    tenant: Tenant,
    files: dict[str, tuple[str, bytes]] | None,
    data: dict[str, str],
    status: int,
    message: str,
) -> None:
    response = await tenant.api.post("/api/datasets", files=files, data=data)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]
    assert await dataset_ids(tenant.api) == []
    assert scratch_files(stack) == []


async def test_formats_outside_the_allowed_list_get_415(
    stack: Stack, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack.settings, "dataset_formats", ["csv", "jsonl"])
    response = await tenant.api.post("/api/datasets", files={"file": ("a.xlsx", b"PK")})
    assert response.status_code == 415
    assert response.json()["detail"] == "format 'xlsx' is not accepted here; allowed: csv, jsonl"
    assert scratch_files(stack) == []


async def test_uploads_need_an_api_key(stack: Stack) -> None:
    async with stack.client(None) as api:
        response = await api.post("/api/datasets", files={"file": ("a.csv", b"a\n1\n")})
    assert response.status_code == 401
    assert isinstance(response, httpx.Response)
