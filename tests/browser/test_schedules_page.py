"""The schedules page: create a schedule with the cron read out in words as it is typed,
see its next run, pause and resume it, trigger a run, edit and delete it."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Server
from tests.conftest import Tenant
from tests.schedules.test_schedules_api import wait_for_runs

pytestmark = pytest.mark.browser


async def test_create_pause_resume_trigger_edit_delete(
    page: Page, tenant: Tenant, server: Server, allowed_console: list[str]
) -> None:
    allowed_console.append("422")  # the bad cron's preview, as the browser logs it
    nav = page.get_by_role("navigation", name="Sections")
    await nav.get_by_role("link", name="Schedules").click()
    await expect(page.get_by_role("heading", level=1, name="Schedules")).to_be_visible()
    await expect(page.get_by_text("No schedules yet. Create one above.")).to_be_visible()

    await page.get_by_label("Name", exact=True).fill("nightly steps")
    await page.get_by_label("Job type").select_option("test-steps")
    await page.get_by_label("Time zone (IANA)").fill("Europe/Berlin")
    cron = page.get_by_label("Cron (minute hour day month weekday)")
    await cron.fill("99 2 * * *")
    await expect(page.locator("#sc-preview")).to_contain_text("cron: bad minute")
    await cron.fill("30 2 * * *")
    await expect(page.locator("#sc-preview")).to_contain_text("At 02:30 (Europe/Berlin). Next:")
    await page.get_by_label("Job data (JSON)").fill('{"steps": 1, "step_seconds": 0}')
    await page.get_by_role("button", name="Create schedule").click()

    row = page.get_by_role("row").filter(has_text="nightly steps")
    await expect(row).to_contain_text("At 02:30 (Europe/Berlin)")
    await expect(row).to_contain_text("active")
    (schedule,) = (await tenant.api.get("/api/schedules")).json()["data"]
    assert schedule["cron"] == "30 2 * * *" and schedule["timezone"] == "Europe/Berlin"
    assert schedule["job"]["data"]["steps"] == 1  # normalised by the type's model

    await row.get_by_role("button", name="Pause").click()
    await expect(row).to_contain_text("paused")
    await row.get_by_role("button", name="Resume").click()
    await expect(row.get_by_role("button", name="Pause")).to_be_visible()

    await row.get_by_role("button", name="Trigger now").click()
    await wait_for_runs(tenant.api, schedule["id"], 1)

    await row.get_by_role("button", name="Edit").click()
    await cron.fill("@hourly")
    await expect(page.locator("#sc-preview")).to_contain_text("Every hour")
    await page.get_by_role("button", name="Save schedule").click()
    await expect(row).to_contain_text("Every hour")

    await row.get_by_role("button", name="Delete").click()
    await page.get_by_role("button", name="Delete it").click()
    await expect(page.get_by_text("No schedules yet. Create one above.")).to_be_visible()
    assert (await tenant.api.get("/api/schedules")).json()["data"] == []
