"""Quotas per organization (issue 16): the bytes of dataset and document files it stores,
and how long its ended jobs' history is kept. Settings give the defaults, an admin
overrides them (PUT /api/limits), GET /api/limits shows them with the usage; an upload
past the storage quota is a 413 naming the quota and the usage, with nothing stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from jobdeck.clock import utcnow
from jobdeck.dataset_files import LocalStorage
from jobdeck.events.retention import prune_job_history
from jobdeck.store.tables import Dataset, Document, Job, JobEvent
from tests.conftest import Stack, Tenant, new_tenant, open_stack
from tests.documents.test_uploads import make_zip
from tests.helpers import create_job, wait_for_job

CSV = b"question,answer\n" + b"what,that\n" * 20  # 216 bytes


def _files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def _storage(stack: Stack) -> LocalStorage:
    storage = stack.runtime.files
    assert isinstance(storage, LocalStorage)
    return storage


async def _set(api: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await api.put("/api/limits", json=body)


async def _quotas(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.get("/api/limits")
    assert response.status_code == 200, response.text
    quotas: dict[str, Any] = response.json()["quotas"]
    return quotas


async def _upload(api: httpx.AsyncClient, content: bytes, name: str = "rows.csv") -> httpx.Response:
    return await api.post("/api/datasets", files={"file": (name, content, "text/csv")})


async def _count(stack: Stack, table: Any, organization_id: str) -> int:
    async with stack.db.read() as session:
        stmt = (
            select(func.count()).select_from(table).where(table.organization_id == organization_id)
        )
        return int((await session.execute(stmt)).scalar_one())


async def test_limits_show_the_quotas_and_the_storage_used(tenant: Tenant) -> None:
    assert await _quotas(tenant.api) == {
        "storage": {"limit": None, "used": 0},
        "jobHistoryDays": None,
    }
    assert (await _upload(tenant.api, CSV)).status_code == 201
    set_ = await _set(tenant.api, storageBytes=10_000_000_000, jobHistoryDays=30)
    assert set_.status_code == 200, set_.text
    assert set_.json()["quotas"] == {
        "storage": {"limit": 10_000_000_000, "used": len(CSV)},  # past 32 bits: stored whole
        "jobHistoryDays": 30,
    }
    reset = await _set(tenant.api, storageBytes=None, jobHistoryDays=None)
    assert reset.json()["quotas"]["storage"]["limit"] is None
    assert reset.json()["quotas"]["jobHistoryDays"] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"storageBytes": 0}, "storageBytes must be at least 1 (got 0)"),
        ({"storageBytes": -5}, "storageBytes must be at least 1 (got -5)"),
        ({"jobHistoryDays": 0}, "jobHistoryDays must be at least 1 (got 0)"),
        ({"jobHistoryDays": 40_000}, "jobHistoryDays must be at most 36500 (got 40000)"),
        ({"storageBytes": 2**63}, "storageBytes must be at most"),
        ({"storageBytes": "lots"}, "storageBytes"),
        ({"jobHistoryDays": 1.5}, "jobHistoryDays"),
    ],
)
async def test_a_bad_quota_is_refused_and_nothing_changes(
    tenant: Tenant, body: dict[str, Any], message: str
) -> None:
    response = await _set(tenant.api, **body)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]
    assert await _quotas(tenant.api) == {
        "storage": {"limit": None, "used": 0},
        "jobHistoryDays": None,
    }


async def test_the_settings_default_applies_until_an_admin_overrides_it(stack: Stack) -> None:
    async with open_stack(stack, workers=False, quota_storage_bytes=300) as quota_stack:
        account = await new_tenant(quota_stack)
        async with quota_stack.client(account.key) as api:
            assert (await _quotas(api))["storage"] == {"limit": 300, "used": 0}
            assert (await _upload(api, CSV)).status_code == 201
            refused = await _upload(api, CSV, "second.csv")
            assert refused.status_code == 413
            assert (await _set(api, storageBytes=1000)).status_code == 200
            assert (await _upload(api, CSV, "second.csv")).status_code == 201


async def test_a_dataset_past_the_quota_is_413_with_the_quota_and_usage(
    stack: Stack, tenant: Tenant
) -> None:
    org = tenant.account.organization_id
    storage = _storage(stack)
    assert (await _set(tenant.api, storageBytes=500)).status_code == 200
    assert (await _upload(tenant.api, CSV)).status_code == 201
    objects, scratch = _files_under(storage.objects), _files_under(storage.scratch_dir)
    refused = await _upload(tenant.api, CSV * 2, "big.csv")
    assert refused.status_code == 413
    body = refused.json()
    assert body["quota"] == "storage_bytes"
    assert body["limit"] == 500
    assert body["usage"] == len(CSV)
    assert body["adding"] >= len(CSV) * 2 > 500 - len(CSV)
    assert body["detail"].startswith("the organization's storage quota of 500 bytes")
    assert await _count(stack, Dataset, org) == 1
    assert _files_under(storage.objects) == objects
    assert _files_under(storage.scratch_dir) <= scratch
    # What still fits is taken.
    assert (await _upload(tenant.api, CSV, "fits.csv")).status_code == 201
    assert (await _quotas(tenant.api))["storage"] == {"limit": 500, "used": 2 * len(CSV)}


async def test_an_upload_streamed_past_the_quota_is_removed(stack: Stack, tenant: Tenant) -> None:
    """Sent chunked (no Content-Length), the body is refused once it streams past the
    room left, and its scratch file is deleted."""
    storage = _storage(stack)
    assert (await _set(tenant.api, storageBytes=4096)).status_code == 200
    boundary = "quota-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        yield head + b"q,a\n"
        for _ in range(64):  # 64 KiB in all, far past the 4 KiB quota
            sent.append(1)
            yield b"x,y\n" * 256
        yield f"\r\n--{boundary}--\r\n".encode()

    scratch = _files_under(storage.scratch_dir)
    refused = await tenant.api.post(
        "/api/datasets",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert refused.status_code == 413, refused.text
    assert refused.json()["limit"] == 4096
    assert refused.json()["usage"] == 0
    assert _files_under(storage.scratch_dir) <= scratch
    assert await _count(stack, Dataset, tenant.account.organization_id) == 0


async def _collection(api: httpx.AsyncClient) -> str:
    response = await api.post("/api/collections", json={"name": "quota"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _documents(stack: Stack, collection_id: str) -> int:
    async with stack.db.read() as session:
        stmt = select(func.count()).where(Document.collection_id == collection_id)
        return int((await session.execute(stmt)).scalar_one())


async def test_documents_count_against_the_same_quota(stack: Stack, tenant: Tenant) -> None:
    cid = await _collection(tenant.api)
    assert (await _set(tenant.api, storageBytes=1000)).status_code == 200
    assert (await _upload(tenant.api, CSV)).status_code == 201  # 216 of 1000
    text = b"hello world. " * 40  # 520 bytes
    one = await tenant.api.post(
        f"/api/collections/{cid}/documents", files={"file": ("a.txt", text, "text/plain")}
    )
    assert one.status_code == 201, one.text
    refused = await tenant.api.post(
        f"/api/collections/{cid}/documents", files={"file": ("b.txt", text, "text/plain")}
    )
    assert refused.status_code == 413, refused.text
    assert refused.json()["usage"] == len(CSV) + len(text)
    # A document replaced by one of its name counts once: 216 + 700 fits in 1000.
    bigger = b"hello again. " * 53 + b"x"  # 690 bytes
    replaced = await tenant.api.post(
        f"/api/collections/{cid}/documents", files={"file": ("a.txt", bigger, "text/plain")}
    )
    assert replaced.status_code == 201, replaced.text
    assert (await _quotas(tenant.api))["storage"]["used"] == len(CSV) + len(bigger)
    assert await _documents(stack, cid) == 1


async def test_an_archive_that_expands_past_the_quota_stores_nothing(
    stack: Stack, tenant: Tenant
) -> None:
    storage = _storage(stack)
    cid = await _collection(tenant.api)
    assert (await _set(tenant.api, storageBytes=3000)).status_code == 200
    # Small once zipped, 4,000 bytes once expanded.
    archive = make_zip({f"doc{i}.txt": b"same words again. " * 50 + b"!" * 100 for i in range(4)})
    assert len(archive) < 3000
    objects, scratch = _files_under(storage.objects), _files_under(storage.scratch_dir)
    refused = await tenant.api.post(
        f"/api/collections/{cid}/uploads", files=[("file", ("docs.zip", archive))]
    )
    assert refused.status_code == 413, refused.text
    assert refused.json()["quota"] == "storage_bytes"
    assert refused.json()["adding"] == 4000
    assert await _documents(stack, cid) == 0
    assert _files_under(storage.objects) == objects
    assert _files_under(storage.scratch_dir) <= scratch


async def _event_count(stack: Stack, job_id: str) -> int:
    async with stack.db.read() as session:
        stmt = select(func.count()).where(JobEvent.job_id == job_id)
        return int((await session.execute(stmt)).scalar_one())


async def test_ended_jobs_past_the_history_retention_are_deleted(stack: Stack) -> None:
    kept_org, expiring_org = await new_tenant(stack), await new_tenant(stack)
    async with stack.client(kept_org.key) as kept, stack.client(expiring_org.key) as expiring:
        assert (await _set(expiring, jobHistoryDays=1)).status_code == 200
        old = [await create_job(api, name="done") for api in (kept, expiring)]
        for api, job in zip((kept, expiring), old, strict=True):
            assert (await wait_for_job(api, job["id"]))["status"] == "completed"
        running = await create_job(expiring, data={"steps": 1000, "step_seconds": 0.1})
        await wait_for_job(expiring, running["id"], lambda j: j["status"] == "active")
        assert await _event_count(stack, old[1]["id"]) > 0

        # Not a day old yet: nothing goes.
        assert await prune_job_history(stack.db, stack.settings, now=utcnow()) == 0
        # A day and an hour later: the expiring organization's ended job goes, with its
        # events; its running job and the other organization's job stay.
        later = utcnow() + timedelta(days=1, hours=1)
        assert await prune_job_history(stack.db, stack.settings, now=later) >= 1
        assert (await expiring.get(f"/api/jobs/{old[1]['id']}")).status_code == 404
        assert await _event_count(stack, old[1]["id"]) == 0
        assert (await expiring.get(f"/api/jobs/{running['id']}")).status_code == 200
        assert (await kept.get(f"/api/jobs/{old[0]['id']}")).status_code == 200
        assert await _count(stack, Job, kept_org.organization_id) == 1
        await expiring.patch(f"/api/jobs/{running['id']}/cancel")
        await wait_for_job(expiring, running["id"])
