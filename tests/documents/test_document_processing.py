"""The document-processing job: documents in, chunks and vectors out, one outcome each;
one bad file never fails the batch unless too many do; unchanged documents are skipped;
a retry works only what failed."""

from __future__ import annotations

from typing import Any

from jobdeck.documents.vectors import open_vector_store
from tests.conftest import Stack, Tenant
from tests.helpers import wait_for_job
from tests.workflows.test_replay import record_history

TEXTS = {
    "rivers.txt": "The Danube flows through ten countries. " * 40,
    "mountains.md": "# Alps\n\nMont Blanc is the highest peak of the Alps.\n\n" * 20,
    "forests.txt": "The taiga is the largest land biome on Earth. " * 40,
}
BROKEN = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n"  # truncated: no pages, no xref


async def _collection_with(tenant: Tenant, broken: bool = True) -> str:
    response = await tenant.api.post("/api/collections", json={"name": "geo"})
    assert response.status_code == 201, response.text
    cid: str = response.json()["id"]
    files = {name: text.encode() for name, text in TEXTS.items()}
    if broken:
        files["broken.pdf"] = BROKEN
    for name, content in files.items():
        up = await tenant.api.post(
            f"/api/collections/{cid}/documents", files={"file": (name, content)}
        )
        assert up.status_code == 201, up.text
    return cid


async def _ingest(tenant: Tenant, cid: str, **body: Any) -> dict[str, Any]:
    response = await tenant.api.post(f"/api/collections/{cid}/ingest", json=body)
    assert response.status_code == 201, response.text
    return await wait_for_job(tenant.api, response.json()["id"], within=120)


async def _items(tenant: Tenant, job_id: str) -> list[dict[str, Any]]:
    response = await tenant.api.get(f"/api/jobs/{job_id}/items")
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def test_ingest_indexes_documents_and_one_bad_file_fails_alone(
    stack: Stack, tenant: Tenant
) -> None:
    cid = await _collection_with(tenant)
    done = await _ingest(tenant, cid, allowedFailureRatio=0.5)
    assert done["status"] == "completed", done
    result = done["result"]
    assert (result["documents"], result["succeeded"], result["failed"]) == (4, 3, 1)
    assert result["chunks"] > 0 and result["tokens"] > 0
    assert [f["filename"] for f in result["failedDocuments"]] == ["broken.pdf"]
    assert done["progress"]["unit"] == "documents" and done["progress"]["current"] == 4

    by_name = {i["details"]["filename"]: i for i in await _items(tenant, done["id"])}
    assert by_name["broken.pdf"]["status"] == "failed" and by_name["broken.pdf"]["error"]
    assert by_name["rivers.txt"]["status"] == "succeeded"
    docs = (await tenant.api.get(f"/api/collections/{cid}/documents")).json()["data"]
    states = {d["filename"]: (d["status"], d["chunks"]) for d in docs}
    assert states["broken.pdf"] == ("failed", None)
    assert all(states[n][0] == "succeeded" and states[n][1] for n in TEXTS)
    store = open_vector_store(stack.settings)
    try:
        assert await store.count(cid) == result["chunks"]
    finally:
        await store.aclose()
    await record_history(stack, done["id"], "document-processing-completed")

    found = await tenant.api.post(
        f"/api/collections/{cid}/search",
        json={"query": "Which river flows through ten countries?", "k": 3},
    )
    assert found.status_code == 200, found.text
    best = found.json()["data"][0]
    assert best["filename"] == "rivers.txt" and best["page"] == 1
    assert "Danube" in best["text"] and best["end"] > best["start"] >= 0
    only = await tenant.api.post(
        f"/api/collections/{cid}/search",
        json={"query": "Danube", "k": 2, "documentIds": [by_name["forests.txt"]["key"]]},
    )
    assert {h["filename"] for h in only.json()["data"]} == {"forests.txt"}
    bad = await tenant.api.post(f"/api/collections/{cid}/search", json={"query": "", "k": 0})
    assert bad.status_code == 422

    again = await _ingest(tenant, cid, allowedFailureRatio=0.5)
    assert again["status"] == "completed", again
    assert again["result"]["skipped"] == 3 and again["result"]["chunks"] == 0
    forced = await _ingest(tenant, cid, allowedFailureRatio=0.5, force=True)
    store = open_vector_store(stack.settings)
    try:  # redone, not doubled
        assert await store.count(cid) == forced["result"]["chunks"] == result["chunks"]
    finally:
        await store.aclose()


async def test_too_many_failures_fail_the_job_and_a_retry_works_only_those(
    tenant: Tenant,
) -> None:
    cid = await _collection_with(tenant)
    done = await _ingest(tenant, cid)  # 1 of 4 failed > 10%
    assert done["status"] == "failed", done
    assert "1 of 4 documents failed" in done["error"]["message"]
    assert "broken.pdf" in done["error"]["message"]
    retry = await tenant.api.post(f"/api/jobs/{done['id']}/retry")
    assert retry.status_code == 201, retry.text
    again = await wait_for_job(tenant.api, retry.json()["id"], within=120)
    assert [i["details"]["filename"] for i in await _items(tenant, again["id"])] == ["broken.pdf"]
