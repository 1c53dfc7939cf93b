"""Pipeline step outputs kept in file storage count toward the organization's storage
quota (issue 16): charged when written, shown in GET /api/limits, refused past the quota
(the step fails, QuotaExceeded, naming the quota and the usage, nothing stored) and freed
when the job history retention deletes the runs that hold them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from jobdeck.clock import utcnow
from jobdeck.dataset_files import LocalStorage
from jobdeck.events.retention import prune_job_history
from jobdeck.store.tables import Job, PipelineBlob
from tests.conftest import Stack, Tenant, new_tenant
from tests.pipelines.helpers import run_to_end, save, start, steps_of

# A transform whose output is its input: ~45 KB of rows, over the 16 KiB inline limit.
SPEC = {
    "inputs": {"rows": {"type": "array"}},
    "steps": [
        {"id": "big", "kind": "transform", "expression": "{rows: @}", "input": "${inputs.rows}"},
        {
            "id": "first",
            "kind": "transform",
            "expression": "rows[0]",
            "input": "${steps.big.output}",
        },
    ],
    "outputs": {"first": "${steps.first.output}"},
}
ROWS = [f"row {i:06d} " + "x" * 200 for i in range(200)]


def _storage(stack: Stack) -> LocalStorage:
    storage = stack.runtime.files
    assert isinstance(storage, LocalStorage)
    return storage


def _files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


async def _storage_quota(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.get("/api/limits")
    assert response.status_code == 200, response.text
    storage: dict[str, Any] = response.json()["quotas"]["storage"]
    return storage


async def _blob_rows(stack: Stack, organization_id: str) -> list[tuple[str, str, int]]:
    async with stack.db.read() as session:
        rows = await session.execute(
            select(PipelineBlob.job_id, PipelineBlob.key, PipelineBlob.size_bytes)
            .where(PipelineBlob.organization_id == organization_id)
            .order_by(PipelineBlob.created_at)
        )
        return [(job, key, size) for job, key, size in rows]


async def _run(api: httpx.AsyncClient, pipeline_id: str) -> dict[str, Any]:
    return await run_to_end(api, (await start(api, pipeline_id, {"rows": ROWS}))["id"])


async def test_a_stored_output_counts_until_retention_deletes_its_runs(
    stack: Stack, tenant: Tenant
) -> None:
    api, org = tenant.api, tenant.account.organization_id
    storage = _storage(stack)
    assert (await api.put("/api/limits", json={"jobHistoryDays": 1})).status_code == 200
    pipeline = await save(api, "stored-output", SPEC)
    run = await _run(api, pipeline["id"])
    assert run["status"] == "completed", run
    marker = (await steps_of(api, run["id"]))["big"]["output"]
    assert set(marker) == {"$blob", "bytes"} and marker["bytes"] > 16_384
    assert (await _storage_quota(api))["used"] == marker["bytes"]
    path = storage.objects / marker["$blob"]
    assert path.stat().st_size == marker["bytes"]

    # A rerun from the later step takes the stored output over: it holds it too, and it
    # counts once.
    response = await api.post(f"/api/jobs/{run['id']}/rerun", json={"fromStep": "first"})
    assert response.status_code == 201, response.text
    rerun = await run_to_end(api, response.json()["id"])
    assert rerun["status"] == "completed" and rerun["result"] == {"first": ROWS[0]}
    assert (await steps_of(api, rerun["id"]))["big"]["output"] == marker
    assert {job for job, _, _ in await _blob_rows(stack, org)} == {run["id"], rerun["id"]}
    assert (await _storage_quota(api))["used"] == marker["bytes"]

    # Not a day old: nothing goes. Later, both runs go, and with the last of them the
    # output's file and its bytes.
    assert await prune_job_history(stack.db, stack.settings, now=utcnow()) == 0
    assert (await _storage_quota(api))["used"] == marker["bytes"]
    later = utcnow() + timedelta(days=1, hours=1)
    assert await prune_job_history(stack.db, stack.settings, now=later) >= 2
    assert (await api.get(f"/api/jobs/{run['id']}")).status_code == 404
    assert await _blob_rows(stack, org) == []
    assert (await _storage_quota(api))["used"] == 0
    assert not path.exists()


async def test_retention_keeps_an_output_a_later_run_still_holds(
    stack: Stack, tenant: Tenant
) -> None:
    api, org = tenant.api, tenant.account.organization_id
    storage = _storage(stack)
    pipeline = await save(api, "held-output", SPEC)
    run = await _run(api, pipeline["id"])
    marker = (await steps_of(api, run["id"]))["big"]["output"]
    response = await api.post(f"/api/jobs/{run['id']}/rerun", json={"fromStep": "first"})
    rerun = await run_to_end(api, response.json()["id"])
    assert rerun["status"] == "completed", rerun
    # Only the first run is old enough to go (set its end back three days).
    assert (await api.put("/api/limits", json={"jobHistoryDays": 2})).status_code == 200
    async with stack.db.write() as session:
        job = await session.get(Job, run["id"])
        assert job is not None
        job.finished_at = utcnow() - timedelta(days=3)
    assert await prune_job_history(stack.db, stack.settings, now=utcnow()) == 1
    assert (await api.get(f"/api/jobs/{run['id']}")).status_code == 404
    assert [job for job, _, _ in await _blob_rows(stack, org)] == [rerun["id"]]
    assert (await _storage_quota(api))["used"] == marker["bytes"]
    assert (storage.objects / marker["$blob"]).is_file()
    full = await api.get(f"/api/jobs/{rerun['id']}/steps/big/output")
    assert full.status_code == 200 and full.json() == {"rows": ROWS}


async def test_an_output_past_the_quota_fails_its_step_with_nothing_stored(
    stack: Stack, tenant: Tenant
) -> None:
    api, org = tenant.api, tenant.account.organization_id
    storage = _storage(stack)
    csv = b"question,answer\n" + b"what,that\n" * 20  # 216 bytes
    upload = await api.post("/api/datasets", files={"file": ("rows.csv", csv, "text/csv")})
    assert upload.status_code == 201, upload.text
    assert (await api.put("/api/limits", json={"storageBytes": 20_000})).status_code == 200
    objects, scratch = _files_under(storage.objects), _files_under(storage.scratch_dir)
    pipeline = await save(api, "too-big", SPEC)
    run = await _run(api, pipeline["id"])
    assert run["status"] == "failed", run
    assert run["error"]["message"].startswith("step big failed: step big: the organization's")
    big = (await steps_of(api, run["id"]))["big"]
    assert big["status"] == "failed" and big["output"] is None
    error = big["error"]
    assert error["type"] == "QuotaExceeded"
    assert (
        "storage quota of 20,000 bytes would be exceeded: 216 bytes are stored"
        in (error["message"])
    )
    assert "the output of step big adds" in error["message"]
    assert error["details"]["quota"] == "storage_bytes"
    assert error["details"]["limit"] == 20_000 and error["details"]["usage"] == len(csv)
    assert error["details"]["adding"] > 20_000 - len(csv)
    # Nothing half-written: no file, no row, no scratch file left, the usage as it was.
    assert _files_under(storage.objects) == objects
    assert _files_under(storage.scratch_dir) <= scratch
    assert await _blob_rows(stack, org) == []
    assert await _storage_quota(api) == {"limit": 20_000, "used": len(csv)}

    # With room for it, the same run stores its output.
    assert (await api.put("/api/limits", json={"storageBytes": 100_000})).status_code == 200
    again = await _run(api, pipeline["id"])
    assert again["status"] == "completed", again
    stored = (await steps_of(api, again["id"]))["big"]["output"]["bytes"]
    assert await _storage_quota(api) == {"limit": 100_000, "used": len(csv) + stored}


async def test_a_map_steps_collected_output_counts_too(stack: Stack, tenant: Tenant) -> None:
    """A map step's output is collected by its child job and kept under the run."""
    api, org = tenant.api, tenant.account.organization_id
    spec = {
        "inputs": {"rows": {"type": "array"}},
        "steps": [
            {
                "id": "each",
                "kind": "map",
                "items": "${inputs.rows}",
                "step": {"kind": "transform", "expression": "item"},
            }
        ],
    }
    pipeline = await save(api, "map-output", spec)
    assert (await api.put("/api/limits", json={"storageBytes": 1_000})).status_code == 200
    refused = await _run(api, pipeline["id"])
    assert refused["status"] == "failed", refused
    assert "storage quota of 1,000 bytes" in refused["error"]["message"]
    assert await _blob_rows(stack, org) == []

    assert (await api.put("/api/limits", json={"storageBytes": 1_000_000})).status_code == 200
    run = await _run(api, pipeline["id"])
    assert run["status"] == "completed", run["error"]
    marker = (await steps_of(api, run["id"]))["each"]["output"]
    assert set(marker) == {"$blob", "bytes"}
    assert [(job, size) for job, _, size in await _blob_rows(stack, org)] == [
        (run["id"], marker["bytes"])
    ]
    assert (await _storage_quota(api))["used"] == marker["bytes"]


async def test_blob_rows_are_summed_per_organization(stack: Stack, tenant: Tenant) -> None:
    """Another organization's stored outputs are not this one's usage."""
    api = tenant.api
    pipeline = await save(api, "mine", SPEC)
    assert (await _run(api, pipeline["id"]))["status"] == "completed"
    async with stack.db.read() as session:
        total = (await session.execute(select(func.count()).select_from(PipelineBlob))).scalar_one()
    assert total >= 1
    other = await new_tenant(stack)
    async with stack.client(other.key) as other_api:
        assert (await _storage_quota(other_api))["used"] == 0
