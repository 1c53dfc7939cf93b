"""Dashboard defects: a fine-tune on data that fails the checks could be started; the
"N new jobs" notice never showed on later pages; the icon sprite was fetched by the rows;
rows kept ticking while the feed was not live."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, Request, expect

from tests.browser.conftest import Server, live_indicator, new_context, row, store_jobs
from tests.conftest import Stack, Tenant
from tests.fine_tuning.conftest import FineTuneStack, chat_jsonl, upload_dataset
from tests.helpers import create_job, wait_for_job

pytestmark = pytest.mark.browser


async def test_a_dataset_that_fails_the_checks_cannot_start_a_fine_tune(
    ft_page: Page, ft: FineTuneStack
) -> None:
    page = ft_page
    bad = await upload_dataset(ft.api, chat_jsonl(examples=3), name="too-few.jsonl")
    response = await ft.api.post(f"/api/datasets/{bad}/validate", json={})
    assert response.status_code == 201, response.text
    done = await wait_for_job(ft.api, response.json()["id"])
    assert done["status"] == "completed", done
    unchecked = await upload_dataset(ft.api, chat_jsonl(), name="unchecked.jsonl")

    await (
        page.get_by_role("navigation", name="Sections")
        .get_by_role("link", name="Fine-tuning")
        .click()
    )
    form = page.get_by_role("form", name="Start a fine-tune")
    start = form.get_by_role("button", name="Start fine-tune")
    await form.get_by_label("Training dataset").select_option(bad)
    await expect(page.locator("#ft-dataset-info")).to_contain_text("problem")
    # Start is refused, and the reason is said beside it (and describes the button).
    await expect(start).to_be_disabled()
    await expect(start).to_have_accessible_description(
        re.compile("the dataset does not pass the fine-tuning checks: .*example")
    )
    for provider in ("OpenAI", "Ollama"):  # every provider runs the checks first
        await form.get_by_label(provider).check()
        await expect(start).to_be_disabled()

    # Not validated yet: it may start (the checks run then); the form says so and links
    # to its page to validate it first.
    await form.get_by_label("Training dataset").select_option(unchecked)
    await expect(start).to_be_enabled()
    await expect(start).to_have_accessible_description(re.compile("not been validated yet"))
    await expect(form.get_by_role("link", name="Validate it first")).to_have_attribute(
        "href", re.compile(unchecked)
    )


async def test_new_jobs_raise_a_notice_on_a_later_page(
    browser: Browser, server: Server, stack: Stack, tenant: Tenant
) -> None:
    await store_jobs(stack, tenant, 60)
    context = await new_context(browser, key=tenant.account.key)
    page = await context.new_page()
    try:
        await page.goto(server.url + "/")
        await expect(live_indicator(page)).to_have_text("Live")
        await page.get_by_role("button", name="Older").click()
        await expect(page.get_by_text("Page 2")).to_be_visible()
        await create_job(tenant.api, name="born on page one", data={"steps": 2})
        notice = page.get_by_role("button", name="1 new job — show the newest")
        await expect(notice).to_be_visible()
        await create_job(tenant.api, name="another one", data={"steps": 2})
        notice = page.get_by_role("button", name="2 new jobs — show the newest")
        await expect(notice).to_be_visible()
        await notice.click()
        await expect(page.get_by_text("Page 1")).to_be_visible()
        await expect(row(page, "born on page one")).to_be_visible()
        await expect(page.get_by_role("row").nth(1)).to_contain_text("another one")
        await expect(page.locator(".new-notice")).to_be_hidden()
    finally:
        await context.close()


async def test_rows_use_the_inline_sprite_without_requests(
    browser: Browser, server: Server, tenant: Tenant
) -> None:
    context = await new_context(browser, key=tenant.account.key)
    page = await context.new_page()
    sprite: list[str] = []

    def seen(request: Request) -> None:
        if "icons.svg" in request.url:
            sprite.append(request.url)

    page.on("request", seen)
    try:
        await page.goto(server.url + "/")
        await expect(live_indicator(page)).to_have_text("Live")
        for i in range(3):
            await create_job(tenant.api, name=f"iconic {i}", data={"steps": 2})
        for i in range(3):
            await expect(row(page, f"iconic {i}").locator(".badge svg use")).to_have_count(1)
        await page.wait_for_timeout(300)
        assert sprite == [], sprite
        # Every icon refers to a symbol of the one inline sprite.
        broken = await page.evaluate(
            """() => [...document.querySelectorAll('use')]
                .map((u) => u.getAttribute('href'))
                .filter((href) => !href.startsWith('#')
                  || !(document.getElementById(href.slice(1)) instanceof SVGSymbolElement))"""
        )
        assert broken == [], broken
    finally:
        await context.close()


async def test_durations_freeze_and_show_stale_while_the_feed_is_down(
    page: Page, tenant: Tenant, server: Server, allowed_console: list[str]
) -> None:
    allowed_console.append("ERR_CONNECTION_REFUSED")
    job = await create_job(tenant.api, name="long runner", data={"steps": 400, "step_seconds": 0.1})
    line = row(page, "long runner")
    await expect(line.get_by_text("Active")).to_be_visible()
    cell = line.locator(".col-duration")
    await expect(cell).not_to_have_class(re.compile("stale"))

    await server.stop()
    try:
        await expect(live_indicator(page)).not_to_have_text("Live")
        await expect(cell).to_have_class(re.compile(r"\bstale\b"))
        await expect(cell).to_contain_text("stale")
        await expect(cell).to_contain_text("live updates are paused")
        frozen = await cell.locator(".duration-text").text_content()
        await page.wait_for_timeout(2_200)
        assert await cell.locator(".duration-text").text_content() == frozen
    finally:
        await server.start()
    await expect(live_indicator(page)).to_have_text("Live")
    await expect(cell).not_to_have_class(re.compile("stale"))
    await expect(cell).not_to_contain_text("stale")
    resumed = await cell.locator(".duration-text").text_content()
    await expect(cell.locator(".duration-text")).not_to_have_text(resumed or "", timeout=3_000)
    await tenant.api.post(f"/api/jobs/{job['id']}/cancel")
