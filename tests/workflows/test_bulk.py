"""The bulk-operation job: cancel or retry every job of the organization matching a filter."""

from __future__ import annotations

import pytest

from jobdeck.activities import bulk
from tests.conftest import Tenant
from tests.helpers import create_job, wait_for_job


def _bulk(action: str, **flt: object) -> dict[str, object]:
    return {"action": action, "filter": flt}


async def test_bulk_cancel_cancels_matching_jobs_only(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "PAGE_SIZE", 2)  # several pages from a handful of jobs
    finished = await create_job(tenant.api, name="done already", data={"steps": 1})
    await wait_for_job(tenant.api, finished["id"])
    running = [
        await create_job(tenant.api, name=f"long {i}", data={"steps": 500, "step_seconds": 0.05})
        for i in range(5)
    ]
    for job in running:
        await wait_for_job(tenant.api, job["id"], lambda j: j["status"] == "active")

    op = await create_job(
        tenant.api,
        type="bulk-operation",
        name="stop all",
        data=_bulk("cancel", statuses=["active"]),
    )
    done = await wait_for_job(tenant.api, op["id"], within=30)
    assert done["status"] == "completed", done
    assert done["result"] == {
        "action": "cancel",
        "matched": 5,
        "processed": 5,
        "succeeded": 5,
        "skipped": 0,
        "failed": 0,
        "newJobIds": [],
    }
    assert done["progress"]["current"] == done["progress"]["total"] == 5
    assert done["progress"]["unit"] == "jobs"
    for job in running:
        assert (await wait_for_job(tenant.api, job["id"]))["status"] == "cancelled"
    untouched = (await tenant.api.get(f"/api/jobs/{finished['id']}")).json()
    assert untouched["status"] == "completed"


async def test_bulk_retry_by_ids_links_new_jobs_and_skips_what_does_not_apply(
    tenant: Tenant,
) -> None:
    failed = [
        await create_job(tenant.api, name=f"bad {i}", data={"fail_permanently": True})
        for i in range(3)
    ]
    ok = await create_job(tenant.api, name="good", data={"steps": 1})
    for job in [*failed, ok]:
        await wait_for_job(tenant.api, job["id"])

    ids = [j["id"] for j in [*failed, ok]]
    op = await create_job(
        tenant.api, type="bulk-operation", name="retry", data=_bulk("retry", ids=ids)
    )
    done = await wait_for_job(tenant.api, op["id"], within=30)
    assert done["status"] == "completed", done
    result = done["result"]
    assert (result["matched"], result["succeeded"], result["skipped"]) == (4, 3, 1)
    retries = [(await tenant.api.get(f"/api/jobs/{i}")).json() for i in result["newJobIds"]]
    assert sorted(r["retryOf"] for r in retries) == sorted(j["id"] for j in failed)
    # The new jobs were created after the operation began, so it did not retry them too.
    assert (await tenant.api.get("/api/jobs/stats")).json()["total"] == 4 + 1 + 3


async def test_bulk_operation_matching_nothing_completes(tenant: Tenant) -> None:
    op = await create_job(
        tenant.api,
        type="bulk-operation",
        name="noop",
        data=_bulk("cancel", q="no job is called this"),
    )
    done = await wait_for_job(tenant.api, op["id"])
    assert done["status"] == "completed"
    assert done["result"]["matched"] == 0


async def test_a_bulk_operation_never_touches_itself(tenant: Tenant) -> None:
    op = await create_job(
        tenant.api, type="bulk-operation", name="cancel everything", data=_bulk("cancel")
    )
    done = await wait_for_job(tenant.api, op["id"])
    assert done["status"] == "completed"
    assert done["result"]["matched"] == 0
