"""What a document-processing job is pointed at, checked before it starts: a collection of
the caller's organization (another's is refused exactly like a missing one), or a
dataset's text column, whose rows become documents processed like uploaded ones."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from jobdeck.documents.vectors import open_vector_store
from tests.conftest import Stack, Tenant, new_tenant
from tests.helpers import wait_for_job

RIVERS_CSV = (
    "id,title,text\n"
    "1,Danube,The Danube flows through ten countries on its way to the Black Sea.\n"
    "2,Nile,The Nile is the longest river of Africa and flows north into the sea.\n"
    "3,Empty,\n"
    '4,,"Mont Blanc is the highest peak of the Alps, on the French-Italian border."\n'
)


async def _collection(api: httpx.AsyncClient, name: str = "geo") -> str:
    response = await api.post("/api/collections", json={"name": name})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _dataset(api: httpx.AsyncClient, name: str, content: str) -> dict[str, Any]:
    response = await api.post("/api/datasets", files={"file": (name, content.encode())})
    assert response.status_code == 201, response.text
    dataset: dict[str, Any] = response.json()
    return dataset


async def _job(api: httpx.AsyncClient, data: dict[str, Any]) -> httpx.Response:
    return await api.post(
        "/api/jobs", json={"type": "document-processing", "name": "ingest", "data": data}
    )


async def _items(api: httpx.AsyncClient, job_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/api/jobs/{job_id}/items")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["data"]
    return items


async def test_another_organizations_collection_is_refused_at_create_like_a_missing_one(
    stack: Stack, tenant: Tenant
) -> None:
    theirs = await _collection(tenant.api)
    missing = str(uuid.uuid4())
    stranger = await new_tenant(stack)
    async with stack.client(stranger.key) as api:
        answers = {cid: await _job(api, {"collectionId": cid}) for cid in (theirs, missing)}
        for cid, response in answers.items():
            assert response.status_code == 422, response.text
            assert response.json()["detail"] == (
                f"data.collectionId: collection {cid} not found in your organization"
            )
        # The ingest route of the same collection: 404, as for a missing one.
        for cid in (theirs, missing):
            response = await api.post(f"/api/collections/{cid}/ingest", json={})
            assert response.status_code == 404, response.text
            assert response.json()["detail"] == f"collection {cid} not found"
        assert (await api.get("/api/jobs")).json()["data"] == []  # nothing was started
    own = await _job(tenant.api, {"collectionId": theirs})
    assert own.status_code == 201, own.text


async def test_a_datasets_rows_become_documents_processed_and_searchable(
    stack: Stack, tenant: Tenant
) -> None:
    cid = await _collection(tenant.api)
    dataset = await _dataset(tenant.api, "rivers.csv", RIVERS_CSV)
    response = await tenant.api.post(
        f"/api/collections/{cid}/ingest",
        json={"datasetId": dataset["id"], "textColumn": "text", "titleColumn": "title"},
    )
    assert response.status_code == 201, response.text
    done = await wait_for_job(tenant.api, response.json()["id"], within=120)
    assert done["status"] == "completed", done
    result = done["result"]
    assert (result["documents"], result["succeeded"], result["skipped"]) == (4, 3, 1)
    assert result["chunks"] == 3 and result["tokens"] > 0 and result["pages"] == 3

    items = await _items(tenant.api, done["id"])
    assert [(i["details"]["row"], i["status"]) for i in items] == [
        (1, "succeeded"),
        (2, "succeeded"),
        (3, "skipped"),
        (4, "succeeded"),
    ]
    assert items[2]["error"] == "row 3 has no text in column 'text'"
    assert items[0]["result"]["row"] == 1 and items[0]["result"]["chunks"] == 1
    names = [i["details"]["filename"] for i in items]
    assert names == [
        "Danube (rivers.csv row 1)",
        "Nile (rivers.csv row 2)",
        "Empty (rivers.csv row 3)",
        "rivers.csv row 4",  # no title: the row number names it
    ]
    docs = (await tenant.api.get(f"/api/collections/{cid}/documents")).json()["data"]
    by_name = {d["filename"]: d for d in docs}
    assert set(by_name) == {names[0], names[1], names[3]}
    assert all(d["status"] == "succeeded" and d["chunks"] == 1 for d in docs)
    assert by_name[names[0]]["id"] == items[0]["key"] and by_name[names[0]]["format"] == "txt"
    store = open_vector_store(stack.settings)
    try:
        assert await store.count(cid) == 3
    finally:
        await store.aclose()

    found = await tenant.api.post(
        f"/api/collections/{cid}/search", json={"query": "the highest mountain of the Alps"}
    )
    assert found.status_code == 200, found.text
    best = found.json()["data"][0]
    assert (best["filename"], best["page"]) == ("rivers.csv row 4", 1)
    assert best["text"].startswith("Mont Blanc")

    # The same dataset again: nothing changed, nothing is embedded again.
    again = await tenant.api.post(
        f"/api/collections/{cid}/ingest",
        json={"datasetId": dataset["id"], "textColumn": "text", "titleColumn": "title"},
    )
    repeat = await wait_for_job(tenant.api, again.json()["id"], within=120)
    assert repeat["status"] == "completed", repeat
    assert (repeat["result"]["skipped"], repeat["result"]["chunks"]) == (4, 0)

    # A new upload of the dataset under the same name, one row changed: only it is redone,
    # its document keeps its id, and its old file is gone.
    changed = RIVERS_CSV.replace("ten countries", "ten European countries")
    newer = await _dataset(tenant.api, "rivers.csv", changed)
    third = await _job(
        tenant.api,
        {
            "collectionId": cid,
            "datasetId": newer["id"],
            "textColumn": "text",
            "titleColumn": "title",
        },
    )
    assert third.status_code == 201, third.text
    redone = await wait_for_job(tenant.api, third.json()["id"], within=120)
    assert redone["status"] == "completed", redone
    assert (redone["result"]["succeeded"], redone["result"]["skipped"]) == (1, 3)
    docs = (await tenant.api.get(f"/api/collections/{cid}/documents")).json()["data"]
    assert len(docs) == 3
    danube = next(d for d in docs if d["filename"] == names[0])
    assert danube["id"] == items[0]["key"] and danube["jobId"] == redone["id"]
    stored = stack.settings.dataset_root / "objects" / tenant.account.organization_id
    files = list((stored / "collections" / cid).iterdir())
    assert len(files) == 3  # one per document: the Danube's old file was deleted
    store = open_vector_store(stack.settings)
    try:
        assert await store.count(cid) == 3
    finally:
        await store.aclose()


async def test_a_jsonl_dataset_through_post_jobs(tenant: Tenant) -> None:
    cid = await _collection(tenant.api)
    lines = [{"body": "Lake Baikal is the deepest lake on Earth."}, {"other": 1}]
    dataset = await _dataset(
        tenant.api, "lakes.jsonl", "".join(json.dumps(x) + "\n" for x in lines)
    )
    response = await _job(
        tenant.api, {"collectionId": cid, "datasetId": dataset["id"], "textColumn": "body"}
    )
    assert response.status_code == 201, response.text
    done = await wait_for_job(tenant.api, response.json()["id"], within=120)
    assert done["status"] == "completed", done
    items = await _items(tenant.api, done["id"])
    assert [(i["details"]["filename"], i["status"]) for i in items] == [
        ("lakes.jsonl row 1", "succeeded"),
        ("lakes.jsonl row 2", "skipped"),  # no "body" key: no text
    ]


async def test_a_dataset_source_is_checked_before_the_job_starts(
    stack: Stack, tenant: Tenant
) -> None:
    cid = await _collection(tenant.api)
    dataset = await _dataset(tenant.api, "rivers.csv", RIVERS_CSV)
    jsonl = await _dataset(tenant.api, "lakes.jsonl", '{"body": "x", "lang": "en"}\n')
    stranger = await new_tenant(stack)
    async with stack.client(stranger.key) as api:
        their_dataset = (await _dataset(api, "mine.csv", "text\nhello\n"))["id"]
    missing = str(uuid.uuid4())
    source = {"collectionId": cid, "datasetId": dataset["id"]}
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {**source, "textColumn": "body"},
            "data.textColumn: dataset 'rivers.csv' has no column 'body'; "
            "its columns: 'id', 'title', 'text'",
        ),
        (
            {**source, "textColumn": "text", "titleColumn": "name"},
            "data.titleColumn: dataset 'rivers.csv' has no column 'name'; "
            "its columns: 'id', 'title', 'text'",
        ),
        (
            {"collectionId": cid, "datasetId": jsonl["id"], "textColumn": "text"},
            "data.textColumn: dataset 'lakes.jsonl' has no column 'text'; "
            "its columns: 'body', 'lang'",
        ),
        (
            {"collectionId": cid, "datasetId": their_dataset, "textColumn": "text"},
            f"data.datasetId: dataset {their_dataset} not found in your organization",
        ),
        (
            {"collectionId": cid, "datasetId": missing, "textColumn": "text"},
            f"data.datasetId: dataset {missing} not found in your organization",
        ),
        ({**source}, "a datasetId needs textColumn"),
        ({"collectionId": cid, "textColumn": "text"}, "textColumn and titleColumn go with"),
        (
            {**source, "textColumn": "text", "documentIds": [str(uuid.uuid4())]},
            "give documentIds or datasetId, not both",
        ),
    ]
    for data, message in cases:
        response = await _job(tenant.api, data)
        assert response.status_code == 422, (data, response.text)
        assert message in response.json()["detail"], (data, response.json())
        body = {k: v for k, v in data.items() if k != "collectionId"}
        via_route = await tenant.api.post(f"/api/collections/{cid}/ingest", json=body)
        assert via_route.status_code == 422, (data, via_route.text)
        assert message in via_route.json()["detail"], (data, via_route.json())
    assert (await tenant.api.get("/api/jobs")).json()["data"] == []
    assert (await tenant.api.get(f"/api/collections/{cid}/documents")).json()["data"] == []
