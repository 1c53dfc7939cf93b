"""A worker SIGKILLed in the middle of a document-processing job: a new worker resumes
from the last checkpoint, the job ends completed once, every document is indexed, and no
vector is stored twice."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from jobdeck.documents.vectors import open_vector_store
from jobdeck.store.migrate import upgrade_async
from tests.e2e.support import Processes, e2e_settings, running_api, start_worker
from tests.helpers import wait_for_job

pytestmark = pytest.mark.slow

DOCUMENTS = 24


async def test_worker_killed_mid_batch_resumes_without_duplicates(
    temporal_env: WorkflowEnvironment, procs: Processes, tmp_path: Path
) -> None:
    address = temporal_env.client.service_client.config.target_host
    settings = e2e_settings(tmp_path / "data", address)
    await upgrade_async(settings.database_url)

    first = start_worker(procs, settings, "worker-1")
    async with running_api(settings) as api:
        made = await api.client.post("/api/collections", json={"name": "crash"})
        assert made.status_code == 201, made.text
        cid = made.json()["id"]
        for n in range(DOCUMENTS):
            text = f"Document {n} is about topic {n}. " * 60
            up = await api.client.post(
                f"/api/collections/{cid}/documents", files={"file": (f"doc-{n}.txt", text)}
            )
            assert up.status_code == 201, up.text
        started = await api.client.post(f"/api/collections/{cid}/ingest", json={})
        assert started.status_code == 201, started.text
        job_id = started.json()["id"]

        await wait_for_job(
            api.client,
            job_id,
            until=lambda j: (j["progress"] or {}).get("current", 0) >= 4,
            within=120,
            why=first.tail,
        )
        assert procs.kill(first, signal.SIGKILL) == -signal.SIGKILL
        stalled = (await api.client.get(f"/api/jobs/{job_id}")).json()
        assert stalled["status"] == "active", stalled
        assert stalled["progress"]["current"] < DOCUMENTS, stalled

        second = start_worker(procs, settings, "worker-2")
        # The dead attempt times out on its heartbeat (30 s); the next resumes after the
        # last chunk of two documents whose outcomes were written.
        done = await wait_for_job(api.client, job_id, within=180, why=second.tail)
        assert done["status"] == "completed", done
        result = done["result"]
        assert (result["documents"], result["succeeded"]) == (DOCUMENTS, DOCUMENTS), result

        items = (await api.client.get(f"/api/jobs/{job_id}/items", params={"limit": 100})).json()
        assert items["counts"]["succeeded"] == DOCUMENTS
        docs = (await api.client.get(f"/api/collections/{cid}/documents")).json()["data"]
        assert all(d["status"] == "succeeded" and d["chunks"] for d in docs)
        store = open_vector_store(settings)
        try:
            assert await store.count(cid) == sum(d["chunks"] for d in docs) == result["chunks"]
        finally:
            await store.aclose()
