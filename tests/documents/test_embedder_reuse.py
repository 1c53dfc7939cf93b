"""A worker loads a local embedding model once: two document-processing jobs (two work
activity batches) and a search on a model never loaded before load it one time."""

from __future__ import annotations

import logging
import uuid

import pytest

from jobdeck.documents.embedding import open_embedder
from jobdeck.documents.local_embedder import LocalEmbedder
from tests.conftest import Stack, Tenant
from tests.documents_lib.test_embedder_cache import LOGGER, loads, model_folder
from tests.helpers import wait_for_job


async def test_two_batches_share_one_loaded_model(
    stack: Stack, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    bundled = open_embedder(stack.settings, "local", "all-MiniLM-L6-v2")
    assert isinstance(bundled, LocalEmbedder)
    name = f"minilm-{uuid.uuid4().hex[:8]}"  # new to this process: no earlier load
    folder = model_folder(stack.settings, name, bundled)
    created = await tenant.api.post(
        "/api/collections", json={"name": "reuse", "embedding": {"model": name}}
    )
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    for filename in ("one.txt", "two.txt"):
        text = f"{filename} is about the rivers of Europe. " * 20
        up = await tenant.api.post(
            f"/api/collections/{cid}/documents", files={"file": (filename, text.encode())}
        )
        assert up.status_code == 201, up.text
        response = await tenant.api.post(f"/api/collections/{cid}/ingest", json={})
        assert response.status_code == 201, response.text
        done = await wait_for_job(tenant.api, response.json()["id"], within=120)
        assert done["status"] == "completed", done
        assert done["result"]["succeeded"] == 1 and done["result"]["chunks"] > 0
    found = await tenant.api.post(f"/api/collections/{cid}/search", json={"query": "rivers"})
    assert found.status_code == 200 and found.json()["data"], found.text
    assert loads(caplog, folder) == 1
