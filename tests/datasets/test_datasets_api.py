"""The datasets API: upload (streamed, limited), list, get, download, delete, tenancy."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from jobdeck.api.uploads import MAX_FIELDS, MAX_FIELDS_BYTES
from jobdeck.store.tables import Dataset
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


def _multipart(filename: bytes, fields: Iterable[tuple[str, bytes]] = ()) -> bytes:
    """A multipart body written by hand: httpx would percent-encode control characters."""
    parts = [
        b'--b\r\nContent-Disposition: form-data; name="'
        + name.encode()
        + b'"\r\n\r\n'
        + value
        + b"\r\n"
        for name, value in fields
    ]
    parts.append(
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="'
        + filename
        + b'"\r\n\r\n'
        + qa_csv()
        + b"\r\n--b--\r\n"
    )
    return b"".join(parts)


async def _post_multipart(tenant: Tenant, body: Any) -> httpx.Response:
    return await tenant.api.post(
        "/api/datasets", content=body, headers={"content-type": "multipart/form-data; boundary=b"}
    )


@pytest.mark.parametrize(
    ("filename", "name", "kept", "disposition"),
    [
        (
            b"../../etc/passwd.csv",
            None,
            "passwd.csv",
            "attachment; filename=\"passwd.csv\"; filename*=UTF-8''passwd.csv",
        ),
        (b"..\\..\\Windows\\win.csv", None, "win.csv", None),
        (b"a\x1b[31mred\x7f.csv", None, "a[31mred.csv", None),
        (b"qa.csv", b"line\r\nbreak\tname", "linebreakname", None),
        (b"qa.csv", b"reports/../2024\x1b/q1.csv", "q1.csv", None),
        (b"evil\xe2\x80\xaevsc.csv", None, "evilvsc.csv", None),  # no right-to-left override
        (
            "données été 数据.csv".encode(),
            None,
            "données été 数据.csv",
            'attachment; filename="donnees ete __.csv"; '
            "filename*=UTF-8''donn%C3%A9es%20%C3%A9t%C3%A9%20%E6%95%B0%E6%8D%AE.csv",
        ),
    ],
)
async def test_upload_names_are_safe_base_names_that_download(
    tenant: Tenant, filename: bytes, name: bytes | None, kept: str, disposition: str | None
) -> None:
    fields = [("name", name)] if name is not None else []
    response = await _post_multipart(tenant, _multipart(filename, fields))
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["name"] == kept
    downloaded = await tenant.api.get(f"/api/datasets/{dataset['id']}/download")
    assert downloaded.status_code == 200
    assert downloaded.content == qa_csv()
    header = downloaded.headers["content-disposition"]
    if disposition is not None:
        assert header == disposition
    assert header.isascii() and header.startswith('attachment; filename="')
    encoded = header.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded) == kept


async def test_quotes_and_percent_signs_stay_out_of_the_ascii_fallback(tenant: Tenant) -> None:
    dataset = await upload(tenant.api, "qa.csv", qa_csv(), name='say "hi" 100%.csv')
    response = await tenant.api.get(f"/api/datasets/{dataset['id']}/download")
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"say _hi_ 100_.csv\"; filename*=UTF-8''say%20%22hi%22%20100%25.csv"
    )


async def test_a_stored_name_with_control_characters_still_downloads(
    stack: Stack, tenant: Tenant
) -> None:
    """Records from before names were cleaned: the header is built from a safe name."""
    dataset = await upload(tenant.api, "qa.csv", qa_csv())
    async with stack.db.write() as session:
        row = await session.get(Dataset, dataset["id"])
        assert row is not None
        row.name = "../bad\r\nname\x1b.csv"
    response = await tenant.api.get(f"/api/datasets/{dataset['id']}/download")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"badname.csv\"; filename*=UTF-8''badname.csv"
    )


@pytest.mark.parametrize(
    ("filename", "name"), [(b"../", None), (b"\x1b\x1b", None), (b"qa.csv", b"..")]
)
async def test_a_name_that_cleans_to_nothing_is_refused(
    stack: Stack, tenant: Tenant, filename: bytes, name: bytes | None
) -> None:
    fields = [("name", name), ("format", b"csv")] if name is not None else [("format", b"csv")]
    response = await _post_multipart(tenant, _multipart(filename, fields))
    assert response.status_code == 422, response.text
    assert "name must be 1 to 255 characters" in response.json()["detail"]
    assert scratch_files(stack) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            [(f"f{i}", b"x") for i in range(MAX_FIELDS + 1)],
            f"too many form fields: send the 'file' field and at most {MAX_FIELDS} others",
        ),
        (
            [(f"f{i}", b"x" * 1000) for i in range(MAX_FIELDS_BYTES // 1000 + 1)],
            f"the form fields beside the file are longer than {MAX_FIELDS_BYTES:,} bytes",
        ),
    ],
)
async def test_form_fields_are_limited_in_number_and_size(
    stack: Stack, tenant: Tenant, fields: list[tuple[str, bytes]], message: str
) -> None:
    before = stored_files(stack)
    response = await _post_multipart(tenant, _multipart(b"qa.csv", fields))
    assert response.status_code == 413, response.text
    assert message in response.json()["detail"]
    assert scratch_files(stack) == []
    assert stored_files(stack) == before
    assert await dataset_ids(tenant.api) == []


async def test_a_stream_of_form_fields_is_cut_off_early(stack: Stack, tenant: Tenant) -> None:
    """150,000 fields of 1 KB, chunked, after the file: the API stops reading at the cap
    instead of holding them all in memory."""
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield _multipart(b"qa.csv").removesuffix(b"--b--\r\n")
        for i in range(150_000):
            sent += 1
            yield (
                b'--b\r\nContent-Disposition: form-data; name="f%d"\r\n\r\n' % i
                + b"x" * 1024
                + b"\r\n"
            )
        yield b"--b--\r\n"

    response = await _post_multipart(tenant, body())
    assert response.status_code == 413, response.text
    assert sent < 100
    assert scratch_files(stack) == []
    assert await dataset_ids(tenant.api) == []


async def test_the_headers_of_a_part_are_limited(stack: Stack, tenant: Tenant) -> None:
    """python-multipart bounds each header line (and their number)."""
    pad = b"p" * 64 * 1024
    huge = b'--b\r\nContent-Disposition: form-data; name="name"\r\nX-Pad: ' + pad + b"\r\n\r\nx\r\n"
    response = await _post_multipart(tenant, huge + _multipart(b"qa.csv"))
    assert response.status_code == 400, response.text
    assert "Maximum header size exceeded" in response.json()["detail"]
    assert scratch_files(stack) == []
