"""The chunks export: GET /api/collections/{id}/chunks?format=jsonl streams every chunk of
a processed collection, document by document in reading order, with embeddings only when
asked; pages small enough here that several documents and chunks pages are crossed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jobdeck.api.routes import collection_chunks
from tests.conftest import Stack, Tenant, new_tenant
from tests.documents.test_uploads import make_zip
from tests.helpers import wait_for_job

TEXTS = {
    "rivers.txt": "The Danube flows through ten countries and many capitals. " * 60,
    "guide/alps.md": "# Alps\n\n## Peaks\n\nMont Blanc is the highest peak of the Alps.\n\n" * 25,
    "forests.txt": "The taiga is the largest land biome on Earth. " * 50,
}


async def _processed_collection(tenant: Tenant) -> tuple[str, dict[str, dict[str, Any]]]:
    created = await tenant.api.post(
        "/api/collections", json={"name": "export", "chunking": {"maxTokens": 64, "overlap": 8}}
    )
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    archive = make_zip({name: text.encode() for name, text in TEXTS.items()})
    up = await tenant.api.post(
        f"/api/collections/{cid}/uploads",
        files=[("file", ("corpus.zip", archive)), ("file", ("empty-later.txt", b"short"))],
    )
    assert up.status_code == 201, up.text
    ingest = await tenant.api.post(f"/api/collections/{cid}/ingest", json={})
    assert ingest.status_code == 201, ingest.text
    done = await wait_for_job(tenant.api, ingest.json()["id"], within=120)
    assert done["status"] == "completed", done
    docs = (await tenant.api.get(f"/api/collections/{cid}/documents")).json()["data"]
    return cid, {d["filename"]: d for d in docs}


def _rows(text: str) -> list[dict[str, Any]]:
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


async def test_every_chunk_streams_out_in_reading_order(
    stack: Stack, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collection_chunks, "DOCUMENTS_PER_PAGE", 2)
    monkeypatch.setattr(collection_chunks, "CHUNKS_PER_PAGE", 3)
    cid, docs = await _processed_collection(tenant)
    assert all(d["chunks"] for d in docs.values())

    response = await tenant.api.get(f"/api/collections/{cid}/chunks", params={"format": "jsonl"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    assert "export.chunks.jsonl" in response.headers["content-disposition"]
    rows = _rows(response.text)
    assert len(rows) == sum(d["chunks"] for d in docs.values())
    by_document: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_document.setdefault(row["filename"], []).append(row)
        assert "embedding" not in row
        assert row["collectionId"] == cid and row["text"] and row["tokens"] > 0
    assert (
        set(by_document)
        == set(docs)
        == {
            "rivers.txt",
            "guide_alps.md",
            "forests.txt",
            "empty-later.txt",
        }
    )
    for name, chunks in by_document.items():
        assert len(chunks) == docs[name]["chunks"]
        assert [c["position"] for c in chunks] == list(range(len(chunks)))
        assert {c["documentId"] for c in chunks} == {docs[name]["id"]}
        places = [(c["page"], c["start"]) for c in chunks]
        assert places == sorted(places)
        assert sum(c["tokens"] for c in chunks) >= docs[name]["tokens"] * 0.9
    assert any("Alps" in (c["section"] or "") for c in by_document["guide_alps.md"])
    assert "Danube" in by_document["rivers.txt"][0]["text"]

    with_vectors = await tenant.api.get(
        f"/api/collections/{cid}/chunks", params={"format": "jsonl", "vectors": "true"}
    )
    assert with_vectors.status_code == 200
    vector_rows = _rows(with_vectors.text)
    assert [r["chunkId"] for r in vector_rows] == [r["chunkId"] for r in rows]
    assert {len(r["embedding"]) for r in vector_rows} == {384}


async def test_export_refusals_and_an_unprocessed_collection(stack: Stack, tenant: Tenant) -> None:
    created = await tenant.api.post("/api/collections", json={"name": "fresh"})
    cid = created.json()["id"]
    await tenant.api.post(f"/api/collections/{cid}/uploads", files={"file": ("a.txt", b"a b")})
    empty = await tenant.api.get(f"/api/collections/{cid}/chunks")
    assert empty.status_code == 200 and empty.text == ""
    csv = await tenant.api.get(f"/api/collections/{cid}/chunks", params={"format": "csv"})
    assert csv.status_code == 422 and "format" in csv.json()["detail"]
    missing = await tenant.api.get("/api/collections/nope/chunks")
    assert missing.status_code == 404
    stranger = await new_tenant(stack)
    async with stack.client(stranger.key) as api:
        assert (await api.get(f"/api/collections/{cid}/chunks")).status_code == 404
