"""The job page's Logs panel: the job's own log lines, followed while it runs."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import row
from tests.conftest import Tenant
from tests.helpers import create_job

pytestmark = pytest.mark.browser


async def test_the_logs_panel_follows_a_running_job(page: Page, tenant: Tenant) -> None:
    job = await create_job(
        tenant.api, name="chatty", data={"steps": 15, "step_seconds": 0.2, "note": "hi"}
    )
    await row(page, "chatty").get_by_role("link", name="View chatty").click()
    await expect(page).to_have_url(re.compile(f"/jobs/{job['id']}$"))
    logs = page.get_by_role("region", name="Logs")
    lines = logs.get_by_role("listitem")
    await expect(lines.first).to_contain_text("note: hi")
    await expect(lines.first).to_contain_text("warning")
    await expect(lines.first).to_contain_text("test-steps.run")
    # Lines logged after the page loaded arrive too, in order, none twice.
    await expect(lines).to_have_count(16, timeout=15_000)
    await expect(lines.last).to_contain_text("step 15")
    await expect(
        page.get_by_role("region", name="Timeline").get_by_text("Completed")
    ).to_be_visible()
    await page.wait_for_timeout(2000)
    await expect(lines).to_have_count(16)
