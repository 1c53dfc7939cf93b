"""The jobs list for operators, in Chromium: "select every job matching the filter" under
the priority, owner and time-range filters; the watchdog's "no progress for N min" on a
row, live; and the task queues shown to admins only."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import update

from jobdeck.clock import utcnow
from jobdeck.domain import EventKind, JobFilter, JobStatus
from jobdeck.store import jobs as job_store
from jobdeck.store import schedules as schedule_store
from jobdeck.store.accounts import Role
from jobdeck.store.tables import Job
from tests.browser.conftest import Server, new_context, row, store_jobs
from tests.conftest import Stack, Tenant, new_tenant
from tests.helpers import wait_for_job

pytestmark = pytest.mark.browser


async def test_every_job_matching_a_priority_filter_is_cancelled_and_no_other(
    page: Page, server: Server, stack: Stack, tenant: Tenant
) -> None:
    # 60 pending jobs: the 55 oldest of priority 2 (more than a page of 50), 5 of 3.
    await store_jobs(stack, tenant, 60)
    names = [f"stored job {i:02d}" for i in range(60)]
    async with stack.db.write() as session:
        await session.execute(update(Job).where(Job.name.in_(names[:55])).values(priority=2))
        await session.execute(update(Job).where(Job.name.in_(names[55:])).values(priority=3))
    await page.goto(server.url + "/?priority=2")
    await expect(page.get_by_text("55 jobs match these filters")).to_be_visible()
    await page.get_by_role("checkbox", name="Select every job on this page").check()
    bar = page.get_by_role("region", name="Bulk actions")
    await bar.get_by_role("button", name="Select every job matching the filter").click()
    await expect(bar.get_by_text("All jobs matching the filter are selected")).to_be_visible()
    await bar.get_by_role("button", name="Cancel all matching").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_role("button", name="Cancel them").click()
    await expect(bar.get_by_text("Done: 55 cancelled, 0 skipped, 0 failed")).to_be_visible(
        timeout=30_000
    )
    # The operation's own filter is the list's, so the priority-3 jobs were not its targets.
    listed = (await tenant.api.get("/api/jobs", params={"type": "bulk-operation"})).json()
    [operation] = listed["data"]
    assert operation["data"]["filter"]["priorities"] == [2]
    assert (await wait_for_job(tenant.api, operation["id"]))["result"]["matched"] == 55


async def test_the_owner_and_time_range_ride_into_the_bulk_filter(
    page: Page, server: Server, stack: Stack, tenant: Tenant
) -> None:
    # 120 jobs a second apart, the newest a second old: 70 of them in the last 70.5 s.
    before = utcnow()
    await store_jobs(stack, tenant, 120)
    after = (before - timedelta(seconds=70.5)).isoformat()
    await page.goto(server.url + "/?" + urlencode({"owner": "me", "created_after": after}))
    await expect(page.get_by_text("70 jobs match these filters")).to_be_visible()
    await page.get_by_role("checkbox", name="Select every job on this page").check()
    bar = page.get_by_role("region", name="Bulk actions")
    await bar.get_by_role("button", name="Select every job matching the filter").click()
    await bar.get_by_role("button", name="Cancel all matching").click()
    await page.get_by_role("dialog").get_by_role("button", name="Cancel them").click()
    await expect(bar.get_by_text("Done: 70 cancelled, 0 skipped, 0 failed")).to_be_visible(
        timeout=30_000
    )
    listed = (await tenant.api.get("/api/jobs", params={"type": "bulk-operation"})).json()
    flt = listed["data"][0]["data"]["filter"]
    assert flt["owner"] == "me" and flt["createdAfter"].startswith(after[:16])


async def test_a_stuck_job_shows_no_progress_on_its_row_live(
    page: Page, server: Server, stack: Stack, tenant: Tenant
) -> None:
    await store_jobs(stack, tenant, 2)
    async with stack.db.read() as session:
        jobs, _ = await job_store.list_jobs(
            session, organization_id=tenant.account.organization_id, flt=JobFilter()
        )
    target = next(j for j in jobs if j.name == "stored job 01")
    now = utcnow()
    async with stack.db.write() as session:
        await job_store.change_job(
            session,
            job_id=target.id,
            kind=EventKind.STARTED,
            now=now,
            values={"status": JobStatus.ACTIVE.value, "started_at": now - timedelta(minutes=20)},
        )
    mark = row(page, "stored job 01").locator(".stuck-mark")
    await expect(row(page, "stored job 01").get_by_text("Active")).to_be_visible()
    await expect(mark).to_be_hidden()

    # The watchdog's round, as activities/stuck.py writes it: a row and a `stuck` event.
    since = utcnow() - timedelta(minutes=14, seconds=5)
    async with stack.db.write() as session:
        await schedule_store.mark_stuck(
            session,
            job_id=target.id,
            organization_id=tenant.account.organization_id,
            reason="no_progress",
            since=since,
            now=utcnow(),
        )
        await job_store.note_event(
            session,
            job_id=target.id,
            kind=EventKind.STUCK,
            now=utcnow(),
            data={"reason": "no_progress", "since": since.isoformat(), "message": "x"},
        )
    await expect(mark).to_have_text("No progress for 14 min")
    await expect(row(page, "stored job 00").locator(".stuck-mark")).to_be_hidden()
    # A reload shows it too (from the job view's `stuck`).
    await page.reload()
    await expect(mark).to_have_text("No progress for 14 min")

    async with stack.db.write() as session:
        await schedule_store.clear_stuck(session, job_id=target.id)
        await job_store.note_event(
            session,
            job_id=target.id,
            kind=EventKind.UNSTUCK,
            now=utcnow(),
            data={"reason": "no_progress", "stuckSeconds": 900, "message": "moving again"},
        )
    await expect(mark).to_be_hidden()


async def test_the_task_queues_panel_is_for_admins_only(
    browser: Browser, page: Page, server: Server, stack: Stack
) -> None:
    await page.goto(server.url + "/operations")
    await expect(page.get_by_role("heading", name="Task queues and workers")).to_be_visible()

    member = await new_tenant(stack, role=Role.MEMBER)
    context = await new_context(browser, key=member.key)
    try:
        other = await context.new_page()
        await other.goto(server.url + "/operations")
        await expect(other.get_by_role("heading", name="Jobs over time")).to_be_visible()
        await expect(other.get_by_role("heading", name="Task queues and workers")).to_be_hidden()
    finally:
        await context.close()
