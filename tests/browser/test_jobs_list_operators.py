"""The jobs list for operators, in Chromium: sortable Status / Duration / Created headers
(kept in the URL, paged by the API), created-after/before, priority and owner filters with
the count of matching jobs, and a search on the datasets page."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import insert

from jobdeck.clock import utcnow
from jobdeck.store import accounts
from jobdeck.store.accounts import Role
from jobdeck.store.tables import Dataset, Job
from tests.browser.conftest import Server
from tests.conftest import Stack, Tenant

pytestmark = pytest.mark.browser


async def _jobs(stack: Stack, tenant: Tenant) -> None:
    """Five finished jobs an hour apart (job 0 the oldest): durations 30, 5, 600, 60 and
    1 s, priorities 1-5; job 2 belongs to a colleague; job 4 is still pending."""
    now = utcnow().replace(microsecond=0)
    async with stack.db.write() as session:
        colleague = await accounts.create_user(
            session,
            organization_id=tenant.account.organization_id,
            email=f"c-{uuid.uuid4().hex[:6]}@example.com",
            name="Colleague",
            role=Role.MEMBER,
            now=now,
        )
    rows = []
    for i, (seconds, status) in enumerate(
        [(30, "completed"), (5, "failed"), (600, "completed"), (60, "cancelled"), (0, "pending")]
    ):
        created = now - timedelta(hours=5 - i)
        started = created + timedelta(seconds=1) if status != "pending" else None
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "organization_id": tenant.account.organization_id,
                "user_id": colleague.id if i == 2 else tenant.account.user_id,
                "type": "test-steps",
                "name": f"ops job {i}",
                "status": status,
                "priority": i + 1,
                "data": {},
                "attempts": 1,
                "created_at": created,
                "updated_at": created,
                "started_at": started,
                "finished_at": started + timedelta(seconds=seconds) if started else None,
            }
        )
    async with stack.db.write() as session:
        await session.execute(insert(Job), rows)


async def names(page: Page) -> list[str]:
    return await page.locator("tbody tr .job-name").all_inner_texts()


async def test_sorting_by_the_column_headers(
    page: Page, server: Server, stack: Stack, tenant: Tenant
) -> None:
    await _jobs(stack, tenant)
    await page.goto(server.url + "/")
    rows = page.locator("tbody tr .job-name")
    await expect(rows).to_have_text([f"ops job {i}" for i in (4, 3, 2, 1, 0)])

    table = page.get_by_role("table")
    await table.get_by_role("button", name="Duration").click()
    await expect(page).to_have_url(re.compile(r"[?&]sort=-duration"))
    # Longest first; the pending job (no duration) last.
    await expect(rows).to_have_text([f"ops job {i}" for i in (2, 3, 0, 1, 4)])
    header = table.get_by_role("columnheader", name="Duration")
    await expect(header).to_have_attribute("aria-sort", "descending")

    await table.get_by_role("button", name="Duration").click()
    await expect(page).to_have_url(re.compile(r"[?&]sort=duration"))
    await expect(rows).to_have_text([f"ops job {i}" for i in (4, 1, 0, 3, 2)])
    await expect(header).to_have_attribute("aria-sort", "ascending")

    await table.get_by_role("button", name="Status").click()
    # Status descending: pending, failed, completed (newest first), cancelled.
    await expect(rows).to_have_text([f"ops job {i}" for i in (4, 1, 2, 0, 3)])

    await table.get_by_role("button", name="Created").click()
    await expect(rows).to_have_text([f"ops job {i}" for i in (4, 3, 2, 1, 0)])
    await expect(page).not_to_have_url(re.compile("sort="))

    # A shared link with a sort opens sorted.
    await page.goto(server.url + "/?sort=duration")
    await expect(rows).to_have_text([f"ops job {i}" for i in (4, 1, 0, 3, 2)])


async def test_time_range_priority_and_owner_filters_with_a_count(
    page: Page, server: Server, stack: Stack, tenant: Tenant
) -> None:
    await _jobs(stack, tenant)
    await page.goto(server.url + "/")
    rows = page.locator("tbody tr .job-name")
    await expect(rows).to_have_count(5)
    count = page.locator(".match-count")
    await expect(count).to_be_hidden()

    await page.get_by_label("Priority").select_option("2")
    await expect(rows).to_have_text(["ops job 1"])
    await expect(count).to_have_text("1 job matches these filters")
    await expect(page).to_have_url(re.compile(r"[?&]priority=2"))
    await page.get_by_label("Priority").select_option("")

    await page.get_by_label("Owner").select_option("me")
    await expect(rows).to_have_text([f"ops job {i}" for i in (4, 3, 1, 0)])
    await expect(count).to_have_text("4 jobs match these filters")
    await page.get_by_label("Owner").select_option("")

    # Created after 3.5 hours ago (in the browser's time zone, as the field shows it).
    after = await page.evaluate(
        """() => { const d = new Date(Date.now() - 3.5 * 3600 * 1000);
          const p = (n) => String(n).padStart(2, "0");
          const day = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
          return `${day}T${p(d.getHours())}:${p(d.getMinutes())}`; }"""
    )
    await page.get_by_label("Created after").fill(after)
    await expect(rows).to_have_text([f"ops job {i}" for i in (4, 3, 2)])
    await expect(count).to_have_text("3 jobs match these filters")
    await expect(page).to_have_url(re.compile(r"[?&]created_after=\d{4}-"))
    # The range survives a reload, and Clear filters ends it.
    await page.reload()
    await expect(rows).to_have_text([f"ops job {i}" for i in (4, 3, 2)])
    await page.get_by_role("button", name="Clear filters").click()
    await expect(rows).to_have_count(5)
    await expect(count).to_be_hidden()


async def test_datasets_search(page: Page, server: Server, stack: Stack, tenant: Tenant) -> None:
    now = utcnow()
    async with stack.db.write() as session:
        await session.execute(
            insert(Dataset),
            [
                {
                    "id": str(uuid.uuid4()),
                    "organization_id": tenant.account.organization_id,
                    "user_id": tenant.account.user_id,
                    "name": name,
                    "format": "csv",
                    "size_bytes": 10,
                    "sha256": "0" * 64,
                    "storage_key": f"x/{name}",
                    "created_at": now - timedelta(seconds=i),
                }
                for i, name in enumerate(["invoices-2025.csv", "tickets.csv", "Invoices-old.csv"])
            ],
        )
    await page.goto(server.url + "/datasets")
    links = page.locator("table.datasets tbody tr td:first-child a")
    await expect(links).to_have_count(3)
    await page.get_by_role("searchbox", name="Search").fill("invoice")
    await expect(links).to_have_text(["invoices-2025.csv", "Invoices-old.csv"])
    await expect(page).to_have_url(re.compile(r"/datasets\?q=invoice$"))
    await page.get_by_role("searchbox", name="Search").fill("nothing-like-it")
    await expect(page.get_by_text("No dataset's name contains “nothing-like-it”.")).to_be_visible()
    await page.reload()
    await expect(page.get_by_role("searchbox", name="Search")).to_have_value("nothing-like-it")
