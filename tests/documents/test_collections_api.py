"""Collections and their documents through the API: create, list, upload; bad input gets a
4xx before anything is stored."""

from __future__ import annotations

from typing import Any

from tests.conftest import Stack, Tenant, new_tenant


async def _collection(tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await tenant.api.post("/api/collections", json={"name": "docs", **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _documents(tenant: Tenant, collection_id: str) -> list[dict[str, Any]]:
    response = await tenant.api.get(f"/api/collections/{collection_id}/documents")
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def _upload(tenant: Tenant, collection_id: str, name: str, content: bytes) -> Any:
    return await tenant.api.post(
        f"/api/collections/{collection_id}/documents", files={"file": (name, content)}
    )


async def test_create_get_and_list_collections(stack: Stack, tenant: Tenant) -> None:
    created = await _collection(tenant)
    assert created["embedding"] == {
        "provider": "local",
        "model": "all-MiniLM-L6-v2",
        "dimensions": None,
    }
    assert created["chunking"] == {"maxTokens": 256, "overlap": 32}
    other = await _collection(
        tenant,
        name="remote",
        embedding={"provider": "openai"},
        chunking={"maxTokens": 512, "overlap": 0},
    )
    assert other["embedding"]["model"] == "text-embedding-3-small"
    one = await tenant.api.get(f"/api/collections/{created['id']}")
    assert one.status_code == 200 and one.json() == created
    listed = (await tenant.api.get("/api/collections")).json()["data"]
    assert [c["name"] for c in listed] == ["remote", "docs"]

    stranger = await new_tenant(stack)
    async with stack.client(stranger.key) as api:
        assert (await api.get(f"/api/collections/{created['id']}")).status_code == 404
        assert (await api.get("/api/collections")).json()["data"] == []


async def test_bad_collections_are_refused(tenant: Tenant) -> None:
    await _collection(tenant)
    again = await tenant.api.post("/api/collections", json={"name": "docs"})
    assert again.status_code == 409 and "exists already" in again.json()["detail"]
    cases = [
        ({"name": ""}, "name"),
        ({"name": "x", "embedding": {"provider": "cohere"}}, "embedding.provider"),
        ({"name": "x", "chunking": {"maxTokens": 100, "overlap": 60}}, "overlap"),
        ({"name": "x", "chunking": {"maxTokens": 4}}, "chunking.maxTokens"),
        ({"name": "x", "colour": "red"}, "colour"),
    ]
    for body, where in cases:
        response = await tenant.api.post("/api/collections", json=body)
        assert response.status_code == 422, (body, response.text)
        assert where in response.json()["detail"], (body, response.text)
    assert len((await tenant.api.get("/api/collections")).json()["data"]) == 1


async def test_upload_documents_and_replace_one_by_name(tenant: Tenant) -> None:
    collection = await _collection(tenant)
    first = await _upload(tenant, collection["id"], "notes.txt", b"first version of the notes")
    assert first.status_code == 201, first.text
    doc = first.json()
    assert (doc["filename"], doc["status"], doc["format"], doc["sizeBytes"]) == (
        "notes.txt",
        "pending",
        "txt",
        26,
    )
    html = b"<html><body><h1>Title</h1><p>Some text.</p></body></html>"
    assert (await _upload(tenant, collection["id"], "page.html", html)).status_code == 201
    second = await _upload(tenant, collection["id"], "../../notes.txt", b"second version")
    assert second.status_code == 201, second.text
    assert second.json()["id"] == doc["id"] and second.json()["sha256"] != doc["sha256"]
    names = sorted(d["filename"] for d in await _documents(tenant, collection["id"]))
    assert names == ["notes.txt", "page.html"]


async def test_bad_documents_get_4xx_and_nothing_is_stored(tenant: Tenant) -> None:
    collection = await _collection(tenant)
    cid = collection["id"]
    empty = await _upload(tenant, cid, "empty.txt", b"")
    assert empty.status_code == 422 and "empty" in empty.json()["detail"]
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    image = await _upload(tenant, cid, "photo.png", png)
    assert image.status_code == 415, image.text
    disguised = await _upload(tenant, cid, "report.pdf", b"<html><body>not a pdf</body></html>")
    assert disguised.status_code == 422, disguised.text
    assert "report.pdf" in disguised.json()["detail"]
    not_multipart = await tenant.api.post(f"/api/collections/{cid}/documents", content=b"x")
    assert not_multipart.status_code == 415
    missing = await _upload(tenant, "no-such-collection", "a.txt", b"text")
    assert missing.status_code == 404
    assert await _documents(tenant, cid) == []
