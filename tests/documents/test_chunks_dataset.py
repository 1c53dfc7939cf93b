"""POST /api/collections/{id}/chunks/dataset keeps a collection's chunks as a JSON Lines
dataset of the organization, with the collection as its lineage; what each bad request
gets."""

from __future__ import annotations

from tests.conftest import Stack, Tenant, new_tenant
from tests.documents.test_chunks_export import _processed_collection, _rows


async def test_the_chunks_become_a_dataset_with_its_lineage(stack: Stack, tenant: Tenant) -> None:
    cid, _ = await _processed_collection(tenant)
    exported = await tenant.api.get(f"/api/collections/{cid}/chunks")
    rows = _rows(exported.text)

    made = await tenant.api.post(
        f"/api/collections/{cid}/chunks/dataset", json={"name": "../../etc/rivers.jsonl"}
    )
    assert made.status_code == 201, made.text
    dataset = made.json()
    assert made.headers["location"] == f"/api/datasets/{dataset['id']}"
    assert dataset["name"] == "rivers.jsonl"  # a name, never a path
    assert dataset["format"] == "jsonl" and dataset["rowCount"] == len(rows)
    assert dataset["sourceCollectionId"] == cid
    assert dataset["links"]["collection"] == f"/api/collections/{cid}"
    assert dataset["details"]["columns"][-1] == "text"
    download = await tenant.api.get(dataset["links"]["download"])
    assert download.status_code == 200 and download.text == exported.text
    assert dataset["sizeBytes"] == len(exported.content)
    listed = (await tenant.api.get("/api/datasets")).json()["data"]
    assert dataset["id"] in [d["id"] for d in listed]

    # With the embeddings, and the collection's name by default.
    with_vectors = await tenant.api.post(
        f"/api/collections/{cid}/chunks/dataset", json={"vectors": True}
    )
    assert with_vectors.status_code == 201, with_vectors.text
    assert with_vectors.json()["name"] == "export.chunks.jsonl"
    assert with_vectors.json()["details"]["columns"][-1] == "embedding"
    text = (await tenant.api.get(with_vectors.json()["links"]["download"])).text
    assert all(len(row["embedding"]) > 0 for row in _rows(text))


async def test_bad_requests_keep_nothing(stack: Stack, tenant: Tenant) -> None:
    async def datasets() -> int:
        return len((await tenant.api.get("/api/datasets")).json()["data"])

    kept = await datasets()
    missing = await tenant.api.post("/api/collections/nope/chunks/dataset", json={})
    assert missing.status_code == 404, missing.text

    created = await tenant.api.post("/api/collections", json={"name": "empty"})
    cid = created.json()["id"]
    empty = await tenant.api.post(f"/api/collections/{cid}/chunks/dataset", json={})
    assert empty.status_code == 409
    assert empty.json()["detail"] == (
        "collection 'empty' has no chunk yet: ingest its documents first"
    )
    long = await tenant.api.post(f"/api/collections/{cid}/chunks/dataset", json={"name": "x" * 256})
    assert long.status_code == 422
    assert "name" in long.text
    wrong = await tenant.api.post(
        f"/api/collections/{cid}/chunks/dataset", json={"vectors": "maybe"}
    )
    assert wrong.status_code == 422

    # Another organization's collection is reported as missing.
    other = await new_tenant(stack)
    async with stack.client(other.key) as stranger:
        theirs = await stranger.post(f"/api/collections/{cid}/chunks/dataset", json={})
    assert theirs.status_code == 404
    assert await datasets() == kept
