"""Signing in and out with an API key, and a page usable by keyboard and at phone width."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import KEY_STORAGE, Problems, Server, live_indicator, new_context
from tests.conftest import Tenant

pytestmark = pytest.mark.browser
FOCUSED = """() => {
  const el = document.activeElement;
  return el.getAttribute("aria-label") || el.id || el.textContent.trim();
}"""


async def test_sign_in_with_a_bad_key_shows_an_error_and_a_good_key_signs_in(
    browser: Browser, server: Server, tenant: Tenant
) -> None:
    context = await new_context(browser)
    page = await context.new_page()
    problems = Problems(page)
    try:
        await page.goto(f"{server.url}/?status=failed")
        await expect(page.get_by_role("heading", name="Sign in to jobdeck")).to_be_visible()
        key = page.get_by_label("API key")
        await expect(key).to_be_focused()
        await key.fill("jd_not_a_real_key")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("alert")).to_have_text("That API key is unknown or revoked.")
        assert await page.evaluate(f"sessionStorage.getItem({KEY_STORAGE!r})") is None

        await key.fill(tenant.account.key)
        await key.press("Enter")
        await expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
        await expect(live_indicator(page)).to_have_text("Live")
        await expect(page.get_by_role("combobox", name="Status")).to_have_value("failed")
        await page.reload()  # kept for the session
        await expect(live_indicator(page)).to_have_text("Live")

        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_role("heading", name="Sign in to jobdeck")).to_be_visible()
        assert await page.evaluate(f"sessionStorage.getItem({KEY_STORAGE!r})") is None
        # The bad key's 401 is the one console error a browser logs by itself.
        problems.check(allowed=("401",))
    finally:
        await context.close()


async def test_keyboard_reaches_the_controls(page: Page) -> None:
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    focused = []
    for _ in range(30):
        await page.keyboard.press("Tab")
        focused.append(await page.evaluate(FOCUSED))
    for expected in ("f-q", "f-status", "f-type", "sign-out", "Total: 0 jobs"):
        assert expected in focused, focused


async def test_phone_width_has_no_sideways_scroll(
    browser: Browser, server: Server, tenant: Tenant
) -> None:
    await tenant.api.post(
        "/api/jobs", json={"type": "test-steps", "name": "small screen", "data": {}}
    )
    context = await new_context(
        browser, key=tenant.account.key, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    page = await context.new_page()
    try:
        await page.goto(server.url + "/")
        await expect(page.get_by_role("link", name="small screen", exact=True)).to_be_visible()
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{overflow}px of sideways scroll at phone width"
    finally:
        await context.close()
