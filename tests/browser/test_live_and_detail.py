"""The live indicator across an API restart, a job's detail page, and paging."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import Problems, Server, live_indicator, new_context, row, store_jobs
from tests.conftest import Stack, Tenant
from tests.helpers import create_job, wait_for_job

pytestmark = pytest.mark.browser


async def test_the_view_catches_up_after_the_api_restarts(
    page: Page, tenant: Tenant, server: Server, allowed_console: list[str]
) -> None:
    allowed_console.append("ERR_CONNECTION_REFUSED")  # the browser logs each failed try
    running = await create_job(
        tenant.api, name="through the restart", data={"steps": 25, "step_seconds": 0.1}
    )
    line = row(page, "through the restart")
    await expect(line.get_by_text("Active")).to_be_visible()
    # Marks that a reload or a rebuilt table would lose.
    await page.evaluate(
        """() => {
          window.__sameDocument = true;
          document.querySelector('tr[data-id]').__sameRow = true;
        }"""
    )

    await server.stop()
    await expect(live_indicator(page)).to_have_text(re.compile("Reconnecting"))
    # While the browser cannot reach the API, jobs go on: one finishes, one is created.
    await wait_for_job(tenant.api, running["id"])
    born = await create_job(tenant.api, name="born while away", data={"steps": 2})
    await wait_for_job(tenant.api, born["id"])
    await expect(live_indicator(page)).to_have_text(re.compile("Reconnecting|Offline"))

    await server.start()
    await expect(live_indicator(page)).to_have_text("Live")
    # Caught up from the last event id: the missed events, applied in place.
    await expect(line.get_by_text("Completed")).to_be_visible()
    await expect(line.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    await expect(row(page, "born while away").get_by_text("Completed")).to_be_visible()
    await expect(page.get_by_role("row").nth(1)).to_contain_text("born while away")
    assert await page.evaluate("() => window.__sameDocument === true"), "the page reloaded"
    assert await page.evaluate(
        """() => [...document.querySelectorAll('tr[data-id]')].some((tr) => tr.__sameRow)"""
    ), "the table was rebuilt instead of updated"
    await expect(page.get_by_role("button", name="Completed: 2 jobs")).to_be_visible()


async def test_the_detail_page_shows_a_failed_jobs_error(
    browser: Browser, server: Server, tenant: Tenant
) -> None:
    job = await create_job(
        tenant.api, name="bad input", description="fails for good", data={"fail_permanently": True}
    )
    failed = await wait_for_job(tenant.api, job["id"])
    assert failed["status"] == "failed"
    context = await new_context(browser, key=tenant.account.key)
    page = await context.new_page()
    problems = Problems(page)
    try:
        await page.goto(f"{server.url}/jobs/{job['id']}")  # a deep link
        await expect(page.get_by_role("heading", level=1, name="bad input")).to_be_visible()
        error = page.get_by_role("region", name="Error")
        await expect(error.get_by_text("BadInput")).to_be_visible()
        await expect(error.get_by_text("the input cannot work")).to_be_visible()
        await expect(error.get_by_text('"hint": "fix it"')).to_be_visible()
        timeline = page.get_by_role("region", name="Timeline")
        await expect(
            timeline.get_by_text("Failed: BadInput: the input cannot work", exact=True)
        ).to_be_visible()
        await expect(timeline.get_by_text("Created")).to_be_visible()
        await expect(
            page.get_by_role("link", name=re.compile("Temporal Web UI"))
        ).to_have_attribute("href", failed["links"]["workflow"])
        await expect(page.get_by_role("button", name="Cancel job")).to_be_hidden()

        # Retry from here: the timeline links the new job, which links back.
        await page.get_by_role("button", name="Retry job").click()
        await expect(timeline.get_by_role("link", name="a new job")).to_be_visible()
        await page.get_by_role("link", name="the new job", exact=True).click()
        await expect(page.get_by_role("link", name="the original job")).to_have_attribute(
            "href", f"/jobs/{job['id']}"
        )
        await page.go_back()
        await expect(page.get_by_role("heading", level=1, name="bad input")).to_be_visible()
        await page.get_by_role("link", name="← All jobs").click()
        await expect(row(page, "bad input")).to_have_count(2)
        problems.check()
    finally:
        await context.close()


async def test_a_running_jobs_detail_is_live(page: Page, tenant: Tenant) -> None:
    job = await create_job(tenant.api, name="watched", data={"steps": 20, "step_seconds": 0.1})
    await row(page, "watched").get_by_role("link", name="View watched").click()
    await expect(page).to_have_url(re.compile(f"/jobs/{job['id']}$"))
    progress = page.get_by_role("region", name="Progress")
    await expect(progress.get_by_text(re.compile(r"steps/s"))).to_be_visible()  # the rate
    await expect(progress.get_by_text("working")).to_be_visible()  # the stage
    await expect(progress.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    await expect(progress.get_by_text("20 of 20 steps")).to_be_visible()
    result = page.get_by_role("region", name="Result")
    await expect(result).to_contain_text('"steps": 20')
    await expect(
        page.get_by_role("region", name="Timeline").get_by_text("Completed")
    ).to_be_visible()
    # No missing part shows as the text "null" (a native append writes null as text).
    stray = await page.evaluate(
        """() => {
          const main = document.querySelector('main');
          const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
          const found = [];
          while (walker.nextNode()) {
            const text = walker.currentNode.nodeValue.trim();
            const where = walker.currentNode.parentElement.className;
            if (text === 'null' || text === 'undefined') found.push(where);
          }
          return found;
        }"""
    )
    assert stray == [], stray


async def test_pages_follow_the_cursor(
    browser: Browser, server: Server, stack: Stack, tenant: Tenant
) -> None:
    await store_jobs(stack, tenant, 60)
    context = await new_context(browser, key=tenant.account.key)
    page = await context.new_page()
    try:
        await page.goto(server.url + "/")
        rows = page.get_by_role("row")
        await expect(rows).to_have_count(51)
        await expect(rows.nth(1)).to_contain_text("stored job 59")
        await page.get_by_role("button", name="Older").click()
        await expect(rows).to_have_count(11)
        await expect(rows.nth(1)).to_contain_text("stored job 09")
        await expect(page.get_by_text("Page 2")).to_be_visible()
        await expect(page.get_by_role("button", name="Older")).to_be_disabled()
        await page.get_by_role("button", name="Newer").click()
        await expect(rows).to_have_count(51)
        await expect(rows.nth(1)).to_contain_text("stored job 59")
    finally:
        await context.close()
