"""What a document-processing job is pointed at, checked before it starts: a collection of
the caller's organization (another's is refused exactly like a missing one), or a
dataset's text column, whose rows become documents processed like uploaded ones."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from sqlalchemy import text as sql_text

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


TITLED_CSV = (
    "id,title,alias,text\n"
    "1,Danube,Donau,The Danube flows through ten countries on its way to the Black Sea.\n"
    "2,Nile,,The Nile is the longest river of Africa and flows north into the sea.\n"
    "3,Rhine,Rhein,The Rhine rises in the Swiss Alps and flows into the North Sea.\n"
)


async def _ingest(api: httpx.AsyncClient, cid: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(f"/api/collections/{cid}/ingest", json=body)
    assert response.status_code == 201, response.text
    # A hung seed (a refused insert retried for ever) never ends: this wait fails.
    return await wait_for_job(api, response.json()["id"], within=120)


async def _documents(api: httpx.AsyncClient, cid: str) -> dict[str, str]:
    docs = (await api.get(f"/api/collections/{cid}/documents")).json()["data"]
    return {d["id"]: d["filename"] for d in docs}


async def test_ingesting_a_dataset_again_with_another_title_column_renames_its_documents(
    stack: Stack, tenant: Tenant
) -> None:
    cid = await _collection(tenant.api)
    dataset = await _dataset(tenant.api, "rivers.csv", TITLED_CSV)
    source = {"datasetId": dataset["id"], "textColumn": "text"}
    first = await _ingest(tenant.api, cid, {**source, "titleColumn": "title"})
    assert first["status"] == "completed", first
    assert (first["result"]["succeeded"], first["result"]["chunks"]) == (3, 3)
    before = await _documents(tenant.api, cid)
    assert sorted(before.values()) == [
        "Danube (rivers.csv row 1)",
        "Nile (rivers.csv row 2)",
        "Rhine (rivers.csv row 3)",
    ]
    store = open_vector_store(stack.settings)
    try:
        assert await store.count(cid) == 3
    finally:
        await store.aclose()

    # The same rows under another title column: the same documents, renamed in place.
    # The title is not embedded, so the unchanged texts are not embedded again.
    second = await _ingest(tenant.api, cid, {**source, "titleColumn": "alias"})
    assert second["status"] == "completed", second
    assert (second["result"]["skipped"], second["result"]["chunks"]) == (3, 0)
    after = await _documents(tenant.api, cid)
    assert set(after) == set(before)  # the same ids, no new document
    assert sorted(after.values()) == [
        "Donau (rivers.csv row 1)",
        "Rhein (rivers.csv row 3)",
        "rivers.csv row 2",  # no alias: the row number names it
    ]
    items = await _items(tenant.api, second["id"])
    assert {i["key"] for i in items} == set(before)
    assert all(i["error"] == "unchanged since it was last processed" for i in items)
    store = open_vector_store(stack.settings)
    try:
        assert await store.count(cid) == 3
    finally:
        await store.aclose()
    # A search hit names its document as it is now, not as it was embedded.
    found = await tenant.api.post(
        f"/api/collections/{cid}/search", json={"query": "the Swiss Alps and the North Sea"}
    )
    assert found.status_code == 200, found.text
    assert found.json()["data"][0]["filename"] == "Rhein (rivers.csv row 3)"

    # A row whose new name another document has: that row fails, saying why; the others
    # are renamed, and the job ends (it no longer retries a refused insert for ever).
    upload = await tenant.api.post(
        f"/api/collections/{cid}/documents",
        files={"file": ("Danube (rivers.csv row 1)", b"An uploaded note on the Danube.")},
    )
    assert upload.status_code == 201, upload.text
    uploaded = upload.json()["id"]
    third = await _ingest(
        tenant.api, cid, {**source, "titleColumn": "title", "allowedFailureRatio": 0.5}
    )
    assert third["status"] == "completed", third
    assert (third["result"]["failed"], third["result"]["skipped"]) == (1, 2)
    items = await _items(tenant.api, third["id"])
    row_one = next(i for i in items if i["details"]["row"] == 1)
    donau = next(i for i, name in after.items() if name.startswith("Donau"))
    assert row_one["status"] == "failed"
    assert row_one["error"] == (
        f"row 1: its document {donau} cannot be renamed to 'Danube (rivers.csv row 1)': "
        f"another document of the collection ({uploaded}) has that name; rename or delete "
        "that one and ingest the dataset again"
    )
    now = await _documents(tenant.api, cid)
    assert now == {
        **after,
        uploaded: "Danube (rivers.csv row 1)",
        next(i for i, name in after.items() if name.startswith("Rhein")): (
            "Rhine (rivers.csv row 3)"
        ),
        next(i for i, name in after.items() if name.endswith("row 2")): ("Nile (rivers.csv row 2)"),
    }
    stored = stack.settings.dataset_root / "objects" / tenant.account.organization_id
    assert len(list((stored / "collections" / cid).iterdir())) == 4  # no file left over


async def test_a_row_the_database_refuses_fails_the_job_with_the_reason_not_a_hang(
    stack: Stack, tenant: Tenant
) -> None:
    """A refusal no look-up foresees (here a trigger refusing the name, as a unique key
    would): the seed tries the page again once, then the job fails naming it."""
    cid = await _collection(tenant.api)
    dataset = await _dataset(tenant.api, "refusable.csv", "text\nSome text to refuse.\n")
    if stack.db.is_sqlite:
        setup = [
            "CREATE TRIGGER refuse_row_document BEFORE INSERT ON documents "
            "WHEN NEW.filename = 'refusable.csv row 1' "
            "BEGIN SELECT RAISE(ABORT, 'refused: refusable.csv row 1'); END",
        ]
        teardown = ["DROP TRIGGER refuse_row_document"]
    else:
        setup = [
            "CREATE FUNCTION refuse_row_document() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN IF NEW.filename = 'refusable.csv row 1' THEN RAISE EXCEPTION "
            "'refused: refusable.csv row 1' USING ERRCODE = 'unique_violation'; END IF; "
            "RETURN NEW; END $$",
            "CREATE TRIGGER refuse_row_document BEFORE INSERT ON documents "
            "FOR EACH ROW EXECUTE FUNCTION refuse_row_document()",
        ]
        teardown = [
            "DROP TRIGGER refuse_row_document ON documents",
            "DROP FUNCTION refuse_row_document()",
        ]
    async with stack.db.write() as session:
        for statement in setup:
            await session.execute(sql_text(statement))
    try:
        done = await _ingest(tenant.api, cid, {"datasetId": dataset["id"], "textColumn": "text"})
    finally:
        async with stack.db.write() as session:
            for statement in teardown:
                await session.execute(sql_text(statement))
    assert done["status"] == "failed", done
    assert done["error"]["type"] == "DocumentNotStored", done
    assert done["error"]["message"] == (
        "rows 1 to 1 of dataset 'refusable.csv' could not be stored as documents: "
        "refused: refusable.csv row 1"
    ), done
    assert await _documents(tenant.api, cid) == {}
