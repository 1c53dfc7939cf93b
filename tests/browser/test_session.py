"""One sign-in is enough for the browser: a new tab is signed in; signing out in one tab
signs every tab out."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import KEY_STORAGE, Problems, Server, live_indicator, new_context
from tests.conftest import Tenant
from tests.helpers import create_job

pytestmark = pytest.mark.browser


async def _sign_in(page: Page, key: str) -> None:
    await expect(page.get_by_role("heading", name="Sign in to jobdeck")).to_be_visible()
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(live_indicator(page)).to_have_text("Live")


async def test_a_new_tab_is_signed_in_and_sign_out_ends_every_tab(
    browser: Browser, server: Server, tenant: Tenant
) -> None:
    job = await create_job(tenant.api, data={"steps": 1, "step_seconds": 0}, name="shared link")
    context = await new_context(browser)
    try:
        first = await context.new_page()
        problems = Problems(first)
        await first.goto(server.url + "/")
        await _sign_in(first, tenant.account.key)
        assert await first.evaluate(f"sessionStorage.getItem({KEY_STORAGE!r})") is None
        cookies = await context.cookies()
        assert [(c["name"], c["httpOnly"], c["sameSite"]) for c in cookies] == [
            ("jobdeck_session", True, "Strict")
        ]
        assert tenant.account.key not in cookies[0]["value"]
        assert await first.evaluate("document.cookie") == ""  # HttpOnly: no script sees it

        second = await context.new_page()  # a job link opened in a new tab
        second_problems = Problems(second)
        await second.goto(f"{server.url}/jobs/{job['id']}")
        await expect(second.get_by_role("heading", name="shared link")).to_be_visible()
        await expect(live_indicator(second)).to_have_text("Live")
        await expect(second.get_by_label("API key")).to_have_count(0)

        await first.get_by_role("button", name="Sign out").click()
        await expect(first.get_by_role("heading", name="Sign in to jobdeck")).to_be_visible()
        # The other tab is told at once, and its next load asks to sign in as well.
        await expect(second.get_by_role("heading", name="Sign in to jobdeck")).to_be_visible()
        for _ in range(50):  # the sign-out request clears the cookie
            if not await context.cookies():
                break
            await asyncio.sleep(0.1)
        assert await context.cookies() == []
        await second.reload()
        await expect(second.get_by_role("heading", name="Sign in to jobdeck")).to_be_visible()

        # Signing in again in one tab signs the other in too.
        await _sign_in(second, tenant.account.key)
        await expect(live_indicator(first)).to_have_text("Live")
        problems.check()
        second_problems.check()
    finally:
        await context.close()


async def test_a_tab_without_the_broadcast_learns_of_the_sign_out_on_its_next_request(
    browser: Browser, server: Server, tenant: Tenant
) -> None:
    context = await new_context(browser)
    try:
        page = await context.new_page()
        await page.goto(server.url + "/")
        await _sign_in(page, tenant.account.key)
        await context.clear_cookies()  # as if another browser window had signed out
        await page.get_by_role("link", name="Datasets").first.click()
        await expect(page.get_by_role("heading", name="Sign in to jobdeck")).to_be_visible()
        await expect(page.get_by_role("alert")).to_contain_text("Your session has ended")
    finally:
        await context.close()
