"""The item runner: one row per item with its outcome, listed by the API; a crashed
attempt resumes from its checkpoint; continue-as-new keeps the history small; a retry
works only what failed."""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import EventType

from tests.conftest import Stack, Tenant
from tests.documents import itemjobs
from tests.helpers import create_job, wait_for_job


async def _items(tenant: Tenant, job_id: str, **params: Any) -> dict[str, Any]:
    response = await tenant.api.get(f"/api/jobs/{job_id}/items", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _run(tenant: Tenant, within: float = 60, **data: Any) -> dict[str, Any]:
    job = await create_job(tenant.api, type="test-items", name="items", data=data)
    return await wait_for_job(tenant.api, job["id"], within=within)


async def test_each_item_gets_its_outcome_and_the_api_lists_them(items_tenant: Tenant) -> None:
    done = await _run(items_tenant, count=25, failEvery=10, skipEvery=7, chunkSize=4, maxItems=9)
    assert done["status"] == "completed", done
    counts = {"succeeded": 20, "failed": 2, "skipped": 3}
    assert {k: v for k, v in done["result"]["counts"].items() if v} == counts
    assert done["progress"]["current"] == done["progress"]["total"] == 25

    failed = await _items(items_tenant, done["id"], status="failed")
    assert [(i["key"], i["error"]) for i in failed["data"]] == [
        ("item-10", "item 10 is bad"),
        ("item-20", "item 20 is bad"),
    ]
    assert failed["counts"]["succeeded"] == 20
    pages, cursor = [], None
    while True:
        page = await _items(
            items_tenant, done["id"], limit=10, **({"cursor": cursor} if cursor else {})
        )
        pages.append(page["data"])
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [10, 10, 5]
    first = pages[0][0]
    assert (first["seq"], first["key"], first["status"], first["result"]) == (
        1,
        "item-1",
        "succeeded",
        {"n": 1},
    )


async def test_bad_item_queries_get_4xx(items_tenant: Tenant) -> None:
    done = await _run(items_tenant, count=1)
    bad = await items_tenant.api.get(f"/api/jobs/{done['id']}/items", params={"status": "nope"})
    assert bad.status_code == 422 and "unknown item status 'nope'" in bad.json()["detail"]
    bad = await items_tenant.api.get(f"/api/jobs/{done['id']}/items", params={"cursor": "x"})
    assert bad.status_code == 422 and "cursor" in bad.json()["detail"]
    missing = await items_tenant.api.get("/api/jobs/no-such-job/items")
    assert missing.status_code == 404


async def test_a_crashed_attempt_redoes_at_most_one_chunk(items_tenant: Tenant) -> None:
    itemjobs.HANDLED.clear()
    done = await _run(items_tenant, count=50, chunkSize=5, crashAfterChunks=3)
    assert done["status"] == "completed", done
    assert done["result"]["counts"]["succeeded"] == 50
    twice = sorted(k for k, n in itemjobs.HANDLED.items() if n > 1)
    # The chunk being worked when the attempt died, and nothing else.
    assert twice == sorted(f"item-{n}" for n in range(16, 21))
    assert set(itemjobs.HANDLED) == {f"item-{n}" for n in range(1, 51)}


async def test_lanes_work_the_items_in_parallel(items_tenant: Tenant) -> None:
    done = await _run(items_tenant, count=40, lanes=3, chunkSize=3, maxItems=6)
    assert done["status"] == "completed", done
    assert done["result"]["counts"]["succeeded"] == 40
    assert done["result"]["counts"]["pending"] == 0


async def _history_events(stack: Stack, job_id: str) -> tuple[int, int]:
    """(events of every run, runs) of a job's workflow."""
    temporal = stack.runtime.temporal
    events, runs, run_id = 0, 0, None
    latest = await temporal.get_workflow_handle(job_id).fetch_history()
    first_run = latest.events[0].workflow_execution_started_event_attributes
    run_id = first_run.first_execution_run_id
    while run_id:
        history = await temporal.get_workflow_handle(job_id, run_id=run_id).fetch_history()
        events += len(history.events)
        runs += 1
        last = history.events[-1]
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
            else None
        )
    return events, runs


async def test_continue_as_new_keeps_each_run_small(
    items_stack: Stack, items_tenant: Tenant
) -> None:
    done = await _run(items_tenant, count=60, chunkSize=5, maxItems=10, batchesPerRun=2)
    assert done["status"] == "completed", done
    assert done["result"] == {"total": 60, "counts": {**_zero(), "succeeded": 60}}
    _, runs = await _history_events(items_stack, done["id"])
    assert runs == 3  # 6 calls of 10 items (the last sees the end), 2 per run


def _zero() -> dict[str, int]:
    return dict.fromkeys(["pending", "succeeded", "partial", "needs_ocr", "failed", "skipped"], 0)


async def test_history_events_per_10000_items(items_stack: Stack, items_tenant: Tenant) -> None:
    done = await _run(items_tenant, within=120, count=10_000, chunkSize=500)
    assert done["status"] == "completed", done
    events, runs = await _history_events(items_stack, done["id"])
    print(f"history: {events} events in {runs} run(s) for 10,000 items")  # noqa: T201
    assert events <= 60, events


async def test_a_retry_works_only_the_failed_items(items_tenant: Tenant) -> None:
    itemjobs.HANDLED.clear()
    done = await _run(items_tenant, count=30, failEvery=7, maxFailed=0)
    assert done["status"] == "failed", done
    retry = await items_tenant.api.post(f"/api/jobs/{done['id']}/retry")
    assert retry.status_code == 201, retry.text
    again = await wait_for_job(items_tenant.api, retry.json()["id"], within=60)
    assert again["status"] == "completed", again
    items = await _items(items_tenant, again["id"])
    assert [i["key"] for i in items["data"]] == ["item-7", "item-14", "item-21", "item-28"]
    assert all(i["status"] == "succeeded" for i in items["data"])
    assert itemjobs.HANDLED["item-7"] == 2 and itemjobs.HANDLED["item-8"] == 1
