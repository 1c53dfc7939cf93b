"""Both vector stores: exact search (brute-force cosine over the stored vectors gives the
same top-k), idempotent upsert, delete_document, drop, filters and bad calls.

pgvector runs for real on a PostgreSQL that the pgserver wheel bundles with the
extension (the PostgreSQL of the other tests has no pgvector package)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from jobdeck.config import Settings
from jobdeck.documents.errors import VectorStoreError
from jobdeck.documents.pg_vectors import PgVectorStore, asyncpg_dsn, table_name
from jobdeck.documents.sqlite_vectors import SqliteVectorStore
from jobdeck.documents.types import VectorRecord
from jobdeck.documents.vectors import VectorStore, open_vector_store

DIMENSIONS = 16


@pytest.fixture(params=["sqlite", "pgvector"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorStore]:
    if request.param == "sqlite":
        opened: VectorStore = SqliteVectorStore(tmp_path / "vectors")
    else:
        opened = PgVectorStore(request.getfixturevalue("pgvector_dsn"))
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
def collection(request: pytest.FixtureRequest) -> str:
    return "c-" + str(abs(hash(request.node.nodeid)))[:12]  # unique per test (shared server)


def records(
    collection: str, vectors: np.ndarray, documents: int = 5, prefix: str = ""
) -> list[VectorRecord]:
    return [
        VectorRecord(
            chunk_id=f"{prefix}chunk-{n}",
            collection_id=collection,
            document_id=f"doc-{n % documents}",
            vector=[float(value) for value in row],
            page=n % 7 + 1,
            start=n * 10,
            end=n * 10 + 9,
            text=f"text of chunk {n}",
            metadata={"n": n, "section": f"s{n % 3}"},
        )
        for n, row in enumerate(vectors)
    ]


def brute_force(
    vectors: np.ndarray, query: np.ndarray, k: int, keep: np.ndarray | None = None
) -> list[str]:
    scores = (vectors @ query) / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    order = [int(i) for i in np.argsort(-scores, kind="stable") if keep is None or keep[i]]
    return [f"chunk-{i}" for i in order[:k]]


async def test_search_equals_brute_force_cosine(store: VectorStore, collection: str) -> None:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(300, DIMENSIONS)).astype(np.float32)
    await store.ensure_collection(collection, DIMENSIONS)
    await store.upsert(records(collection, vectors))
    assert await store.count(collection) == 300
    for trial in range(10):
        query = rng.normal(size=DIMENSIONS).astype(np.float32)
        hits = await store.search(collection, query.tolist(), 10)
        assert [hit.chunk_id for hit in hits] == brute_force(vectors, query, 10), trial
        best = vectors[int(hits[0].chunk_id.split("-")[1])]
        expected = float(best @ query / (np.linalg.norm(best) * np.linalg.norm(query)))
        assert hits[0].score == pytest.approx(expected, abs=1e-5)
        assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    hit = (await store.search(collection, vectors[42].tolist(), 1))[0]
    assert (hit.chunk_id, hit.document_id, hit.page, hit.start, hit.end, hit.text) == (
        "chunk-42",
        "doc-2",
        1,
        420,
        429,
        "text of chunk 42",
    )
    assert hit.metadata == {"n": 42, "section": "s0"}
    assert hit.score == pytest.approx(1.0, abs=1e-5)


async def test_search_within_documents(store: VectorStore, collection: str) -> None:
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(200, DIMENSIONS)).astype(np.float32)
    await store.ensure_collection(collection, DIMENSIONS)
    await store.upsert(records(collection, vectors))
    query = rng.normal(size=DIMENSIONS).astype(np.float32)
    keep = np.array([n % 5 in (1, 3) for n in range(200)])
    hits = await store.search(collection, query.tolist(), 8, document_ids=["doc-1", "doc-3"])
    assert [hit.chunk_id for hit in hits] == brute_force(vectors, query, 8, keep)
    assert {hit.document_id for hit in hits} <= {"doc-1", "doc-3"}
    assert await store.search(collection, query.tolist(), 8, document_ids=[]) == []
    assert await store.search(collection, query.tolist(), 8, document_ids=["doc-none"]) == []


async def test_upsert_is_idempotent_by_chunk_id(store: VectorStore, collection: str) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(50, DIMENSIONS)).astype(np.float32)
    await store.ensure_collection(collection, DIMENSIONS)
    await store.ensure_collection(collection, DIMENSIONS)  # again: nothing changes
    first = records(collection, vectors)
    await store.upsert(first)
    await store.upsert(first)  # a redone batch
    await store.upsert(first[10:20])  # a partly redone one
    assert await store.count(collection) == 50
    moved = VectorRecord(**{**first[0].__dict__, "vector": vectors[1].tolist(), "text": "new"})
    await store.upsert([moved])
    assert await store.count(collection) == 50
    hits = await store.search(collection, vectors[1].tolist(), 2)
    assert {hit.chunk_id for hit in hits} == {"chunk-0", "chunk-1"}
    assert next(hit for hit in hits if hit.chunk_id == "chunk-0").text == "new"


async def test_delete_document_and_drop_collection(store: VectorStore, collection: str) -> None:
    rng = np.random.default_rng(4)
    vectors = rng.normal(size=(100, DIMENSIONS)).astype(np.float32)
    await store.ensure_collection(collection, DIMENSIONS)
    await store.upsert(records(collection, vectors))
    await store.delete_document(collection, "doc-2")
    assert await store.count(collection) == 80
    hits = await store.search(collection, vectors[2].tolist(), 100)
    assert len(hits) == 80 and "doc-2" not in {hit.document_id for hit in hits}
    await store.delete_document(collection, "doc-2")  # again: nothing to do
    await store.delete_document(collection, "doc-none")
    assert await store.count(collection) == 80
    other = collection + "-other"
    await store.ensure_collection(other, DIMENSIONS)
    await store.upsert(records(other, vectors[:5]))
    await store.drop_collection(collection)
    assert await store.count(collection) == 0
    await store.drop_collection(collection)  # again: nothing to do
    assert await store.count(other) == 5  # the other collection is untouched
    with pytest.raises(VectorStoreError, match="has no vectors yet"):
        await store.search(collection, vectors[0].tolist(), 3)
    await store.ensure_collection(collection, 2 * DIMENSIONS)  # made anew, another length
    assert await store.count(collection) == 0
    await store.drop_collection(other)


async def test_wrong_lengths_and_bad_ids_are_refused(store: VectorStore, collection: str) -> None:
    await store.ensure_collection(collection, DIMENSIONS)
    with pytest.raises(VectorStoreError, match=f"holds {DIMENSIONS}-dimensional vectors, not 8"):
        await store.ensure_collection(collection, 8)
    bad = records(collection, np.ones((1, 8), dtype=np.float32))
    with pytest.raises(VectorStoreError, match="not 8"):
        await store.upsert(bad)
    with pytest.raises(VectorStoreError, match="not 3"):
        await store.search(collection, [1.0, 0.0, 0.0], 3)
    with pytest.raises(VectorStoreError, match="not a valid collection id"):
        await store.ensure_collection("../../etc/passwd", DIMENSIONS)
    with pytest.raises(VectorStoreError, match="has no vectors yet"):
        await store.upsert(records("never-made", np.ones((1, DIMENSIONS), dtype=np.float32)))
    assert await store.count("never-made") == 0
    assert await store.search(collection, [1.0] * DIMENSIONS, 0) == []


async def test_sqlite_vectors_survive_reopening(tmp_path: Path) -> None:
    vectors = np.random.default_rng(5).normal(size=(20, DIMENSIONS)).astype(np.float32)
    first = SqliteVectorStore(tmp_path)
    await first.ensure_collection("kept", DIMENSIONS)
    await first.upsert(records("kept", vectors))
    await first.aclose()
    second = SqliteVectorStore(tmp_path)
    try:
        assert await second.count("kept") == 20
        assert (await second.search("kept", vectors[7].tolist(), 1))[0].chunk_id == "chunk-7"
    finally:
        await second.aclose()
    assert (tmp_path / "kept.sqlite").is_file()  # noqa: ASYNC240


async def test_pgvector_hnsw_path_finds_nearly_all_exact_neighbours(pgvector_dsn: str) -> None:
    """Past `exact_below` the HNSW index answers: approximate, so recall, not equality."""
    rng = np.random.default_rng(6)
    vectors = rng.normal(size=(2000, DIMENSIONS)).astype(np.float32)
    store = PgVectorStore(pgvector_dsn, exact_below=0)
    try:
        await store.ensure_collection("hnsw", DIMENSIONS)
        await store.upsert(records("hnsw", vectors))
        pool = await store._get_pool()
        async with pool.acquire() as connection:
            await connection.execute(f"ANALYZE {table_name('hnsw')}")
            plan = "\n".join(
                row[0]
                for row in await connection.fetch(
                    f"EXPLAIN SELECT chunk_id FROM {table_name('hnsw')} "
                    f"ORDER BY embedding <=> $1::vector LIMIT 10",
                    "[" + ",".join("0.1" for _ in range(DIMENSIONS)) + "]",
                )
            )
        assert "hnsw" in plan
        found = total = 0
        for _ in range(20):
            query = rng.normal(size=DIMENSIONS).astype(np.float32)
            hits = await store.search("hnsw", query.tolist(), 10)
            found += len({hit.chunk_id for hit in hits} & set(brute_force(vectors, query, 10)))
            total += 10
        assert found / total >= 0.9
        filtered = await store.search("hnsw", vectors[3].tolist(), 5, document_ids=["doc-3"])
        assert len(filtered) == 5 and {hit.document_id for hit in filtered} == {"doc-3"}
        await store.drop_collection("hnsw")
    finally:
        await store.aclose()


def test_open_vector_store_follows_settings(tmp_path: Path) -> None:
    store = open_vector_store(Settings(environment="test", data_dir=tmp_path))
    assert isinstance(store, SqliteVectorStore) and store.root == tmp_path / "vectors"
    pg = open_vector_store(
        Settings(
            environment="test",
            data_dir=tmp_path,
            vector_store="pgvector",
            database_url="postgresql+asyncpg://app:pw@db:5432/jobdeck",
        )
    )
    assert isinstance(pg, PgVectorStore) and pg.dsn == "postgresql://app:pw@db:5432/jobdeck"
    with pytest.raises(VectorStoreError, match="needs a PostgreSQL database_url"):
        asyncpg_dsn("sqlite+aiosqlite:///x.db")
    assert table_name("Ab") != table_name("ab")


async def test_pgvector_collection_dropped_by_another_process(pgvector_dsn: str) -> None:
    """A store that cached a collection's length learns that another dropped it."""
    first, second = PgVectorStore(pgvector_dsn), PgVectorStore(pgvector_dsn)
    vectors = np.random.default_rng(7).normal(size=(5, DIMENSIONS)).astype(np.float32)
    try:
        await first.ensure_collection("shared", DIMENSIONS)
        await first.upsert(records("shared", vectors))
        assert await second.count("shared") == 5  # second now knows the collection
        await first.drop_collection("shared")
        assert await second.count("shared") == 0
        await second.delete_document("shared", "doc-1")
        with pytest.raises(VectorStoreError, match="no vectors yet"):
            await second.search("shared", vectors[0].tolist(), 3)
        with pytest.raises(VectorStoreError, match="no vectors yet"):
            await second.upsert(records("shared", vectors))
    finally:
        await first.aclose()
        await second.aclose()


async def test_document_chunks_page_through_a_document_in_reading_order(
    store: VectorStore, collection: str
) -> None:
    assert await store.document_chunks(collection, "doc-1") == []  # no vectors yet
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(60, DIMENSIONS)).astype(np.float32)
    await store.ensure_collection(collection, DIMENSIONS)
    await store.upsert(records(collection, vectors))
    expected = sorted(
        (n % 7 + 1, n * 10, f"chunk-{n}") for n in range(60) if n % 5 == 2
    )  # doc-2's chunks by (page, start, id)
    seen: list[tuple[int, int, str]] = []
    after = None
    while True:
        page = await store.document_chunks(collection, "doc-2", after=after, limit=4)
        seen += [chunk.after for chunk in page]
        assert all(chunk.vector is None and chunk.document_id == "doc-2" for chunk in page)
        if len(page) < 4:
            break
        after = page[-1].after
    assert seen == expected
    [first] = await store.document_chunks(collection, "doc-2", limit=1, vectors=True)
    n = int(first.chunk_id.split("-")[1])
    assert first.text == f"text of chunk {n}" and first.metadata == {"n": n, "section": f"s{n % 3}"}
    assert first.vector == pytest.approx(vectors[n].tolist(), abs=1e-6)
    assert await store.document_chunks(collection, "doc-none") == []
    assert await store.document_chunks(collection, "doc-2", limit=0) == []


async def test_pgvector_connections_cut_are_an_outage_that_a_step_waits_out(
    pgvector_dsn: str,
) -> None:
    """The server drops the store's connections mid-query (a restart, a failover): the
    store's call fails as an outage, and a step's write of vectors already paid for waits it
    out and lands once, rather than failing the step, which would embed them again."""
    import asyncio
    import dataclasses
    from datetime import timedelta

    import asyncpg
    from temporalio.testing import ActivityEnvironment

    from jobdeck.activities.outage import outlast
    from jobdeck.clock import utcnow
    from jobdeck.store.engine import is_outage

    store = PgVectorStore(pgvector_dsn)
    vectors = np.random.default_rng(8).normal(size=(4, DIMENSIONS)).astype(np.float32)

    async def cut_connections_soon() -> None:
        await asyncio.sleep(0.5)
        admin = await asyncpg.connect(asyncpg_dsn(pgvector_dsn))
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
        finally:
            await admin.close()

    async def slow_query(seconds: float) -> None:
        async with store._using() as connection:
            await connection.execute("SELECT pg_sleep($1)", seconds)

    try:
        await store.ensure_collection("cut", DIMENSIONS)
        cut = asyncio.create_task(cut_connections_soon())
        with pytest.raises(Exception) as failed:
            await slow_query(5.0)
        await cut
        assert is_outage(failed.value), repr(failed.value)

        tries = 0

        async def write() -> None:
            nonlocal tries
            tries += 1
            await slow_query(5.0 if tries == 1 else 0.0)  # the first try is cut mid-query
            await store.upsert(records("cut", vectors))

        async def step() -> None:
            cut = asyncio.create_task(cut_connections_soon())
            await outlast(write, what="writing vectors")
            await cut

        env = ActivityEnvironment()
        # A step with time to wait out the outage (the test default is a 1 s step).
        env.info = dataclasses.replace(
            env.info, started_time=utcnow(), start_to_close_timeout=timedelta(minutes=5)
        )
        await env.run(step)
        assert tries == 2
        assert await store.count("cut") == 4
    finally:
        await store.aclose()
