"""The jobs page in a real browser: live rows and progress, cancel, retry, filters."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Server, row
from tests.conftest import Tenant
from tests.helpers import create_job, wait_for_job

pytestmark = pytest.mark.browser
T = TypeVar("T")


async def eventually(
    read: Callable[[], Awaitable[T]], ok: Callable[[T], bool], within: float = 15
) -> T:
    """Read until `ok` holds (Playwright for Python has no expect.poll)."""
    deadline = time.monotonic() + within
    while True:
        value = await read()
        if ok(value):
            return value
        assert time.monotonic() < deadline, f"still {value!r} after {within} s"
        await asyncio.sleep(0.05)


async def progress_of(page: Page, name: str) -> float:
    value = await row(page, name).get_by_role("progressbar").get_attribute("aria-valuenow")
    return float(value or 0)


async def test_a_new_job_appears_live_and_its_progress_bar_moves(
    page: Page, tenant: Tenant
) -> None:
    await expect(page.get_by_text("No jobs yet.")).to_be_visible()
    job = await create_job(
        tenant.api,
        name="live report",
        description="shows up without a reload",
        data={"steps": 20, "step_seconds": 0.1},
    )
    line = row(page, "live report")
    await expect(line).to_be_visible()
    await expect(line.get_by_text("Active")).to_be_visible()
    bar = line.get_by_role("progressbar", name="Progress of live report")
    await expect(bar).to_have_attribute("aria-valuenow", re.compile(r"^([1-9]\d?)$"))
    first = await progress_of(page, "live report")
    await eventually(lambda: progress_of(page, "live report"), lambda now: now > first)
    await expect(line.get_by_text(re.compile(r"\d+/20 steps"))).to_be_visible()
    await expect(line.get_by_text("Completed")).to_be_visible()
    await expect(bar).to_have_attribute("aria-valuenow", "100")
    await expect(line.get_by_text("20/20 steps")).to_be_visible()
    # Filled in from the record once the feed said the job exists.
    await expect(line.get_by_text("shows up without a reload")).to_be_visible()
    # Actions only where they apply: a completed job can be neither cancelled nor retried.
    await expect(line.get_by_role("button", name="Cancel live report")).to_be_hidden()
    await expect(line.get_by_role("button", name="Retry live report")).to_be_hidden()
    await expect(page.get_by_role("button", name="Completed: 1 jobs")).to_be_visible()
    assert (await wait_for_job(tenant.api, job["id"]))["status"] == "completed"


async def test_cancel_in_the_table_cancels_the_job(page: Page, tenant: Tenant) -> None:
    job = await create_job(tenant.api, name="long haul", data={"steps": 400, "step_seconds": 0.1})
    line = row(page, "long haul")
    await expect(line.get_by_text("Active")).to_be_visible()
    await expect(line.get_by_role("button", name="Retry long haul")).to_be_hidden()
    await line.get_by_role("button", name="Cancel long haul").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("Cancel “long haul”?")
    await dialog.get_by_role("button", name="Cancel it").click()
    await expect(line.get_by_text("Cancelled", exact=True)).to_be_visible()
    await expect(line.get_by_role("button", name="Cancel long haul")).to_be_hidden()
    assert (await wait_for_job(tenant.api, job["id"]))["status"] == "cancelled"


async def test_retry_in_the_table_creates_the_linked_job(page: Page, tenant: Tenant) -> None:
    original = await create_job(tenant.api, name="flaky import", data={"fail_permanently": True})
    await wait_for_job(tenant.api, original["id"])
    line = row(page, "flaky import")
    await expect(line.get_by_text("Failed")).to_be_visible()
    await line.get_by_role("button", name="Retry flaky import").click()
    # The new job arrives live at the top of the table, under the same name.
    await expect(row(page, "flaky import")).to_have_count(2)
    listed = (await tenant.api.get("/api/jobs", params={"q": "flaky import"})).json()["data"]
    assert len(listed) == 2
    retry = next(j for j in listed if j["id"] != original["id"])
    assert retry["retryOf"] == original["id"]
    first = page.get_by_role("row").nth(1)
    await expect(first.get_by_role("link", name="flaky import", exact=True)).to_have_attribute(
        "href", f"/jobs/{retry['id']}"
    )
    await page.get_by_role("link", name="View the new job").click()
    await expect(page).to_have_url(re.compile(f"/jobs/{retry['id']}$"))
    await expect(page.get_by_role("link", name="the original job")).to_have_attribute(
        "href", f"/jobs/{original['id']}"
    )


async def test_search_and_filters_narrow_the_table_and_survive_a_reload(
    page: Page, tenant: Tenant, server: Server
) -> None:
    done = await create_job(tenant.api, name="alpha report", data={"steps": 1})
    broken = await create_job(
        tenant.api,
        name="beta import",
        description="nightly alpha feed",
        data={"fail_permanently": True},
    )
    other = await create_job(tenant.api, name="gamma export", data={"steps": 1})
    for job in (done, broken, other):
        await wait_for_job(tenant.api, job["id"])
    await expect(page.get_by_role("row")).to_have_count(4)  # the header and three jobs

    search = page.get_by_role("searchbox", name="Search")
    await search.fill("alpha")  # matches a name and a description
    await expect(row(page, "gamma export")).to_have_count(0)
    await expect(row(page, "alpha report")).to_be_visible()
    await expect(row(page, "beta import")).to_be_visible()
    await expect(page).to_have_url(re.compile(r"\?q=alpha$"))

    await page.get_by_role("combobox", name="Status").select_option("failed")
    await expect(row(page, "alpha report")).to_have_count(0)
    await expect(row(page, "beta import")).to_be_visible()
    await expect(page).to_have_url(re.compile(r"\?q=alpha&status=failed$"))

    await page.reload()
    await expect(page.get_by_role("searchbox", name="Search")).to_have_value("alpha")
    await expect(page.get_by_role("combobox", name="Status")).to_have_value("failed")
    await expect(row(page, "beta import")).to_be_visible()
    await expect(page.get_by_role("row")).to_have_count(2)

    # A shared link opens the same view; the type filter narrows too.
    await page.goto(f"{server.url}/?type=bulk-operation")
    await expect(page.get_by_role("combobox", name="Type")).to_have_value("bulk-operation")
    await expect(page.get_by_text("No jobs match these filters.")).to_be_visible()
    await page.get_by_role("button", name="Clear filters").click()
    await expect(page.get_by_role("row")).to_have_count(4)
    await expect(page).to_have_url(f"{server.url}/")


async def test_bulk_cancel_of_the_selected_jobs_shows_its_progress(
    page: Page, tenant: Tenant
) -> None:
    names = ["bulk one", "bulk two"]
    jobs = [
        await create_job(tenant.api, name=n, data={"steps": 400, "step_seconds": 0.1})
        for n in names
    ]
    for name in names:
        await expect(row(page, name).get_by_text("Active")).to_be_visible()
        await page.get_by_role("checkbox", name=f"Select {name}").check()
    bar = page.get_by_role("region", name="Bulk actions")
    await expect(bar.get_by_text("2 selected")).to_be_visible()
    await bar.get_by_role("button", name="Cancel selected").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("Cancel 2 jobs?")
    await dialog.get_by_role("button", name="Cancel them").click()
    await expect(bar.get_by_text("Done: 2 cancelled, 0 skipped, 0 failed")).to_be_visible()
    await expect(bar.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    for name, job in zip(names, jobs, strict=True):
        await expect(row(page, name).get_by_text("Cancelled", exact=True)).to_be_visible()
        assert (await wait_for_job(tenant.api, job["id"]))["status"] == "cancelled"
    # The bulk operation is itself a job, listed like any other.
    await expect(row(page, "cancel 2 jobs")).to_be_visible()
