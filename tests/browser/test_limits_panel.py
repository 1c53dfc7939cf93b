"""The limits panel of the Operations page in Chromium: the organization's concurrency
limits with the jobs running and waiting, its rate limits, each pending job's place in
line; an admin changes a limit there (the API's 422 shown next to the field, a raised
limit starting the waiting jobs at once); a member sees the limits but no form."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from jobdeck.store.accounts import Role
from tests.browser.conftest import Server, signed_in_page
from tests.conftest import Stack, Tenant, new_tenant
from tests.helpers import create_job, wait_for_job

pytestmark = pytest.mark.browser

LONG = {"steps": 300, "step_seconds": 0.1}


async def test_an_admin_sees_the_line_and_raises_the_limit(
    page: Page, tenant: Tenant, allowed_console: list[str]
) -> None:
    allowed_console.append("status of 422")  # the refusal this test asks for
    assert (await tenant.api.put("/api/limits", json={"activeJobs": 1})).status_code == 200
    jobs = [await create_job(tenant.api, name=f"held {i}", data=LONG) for i in range(3)]
    await wait_for_job(
        tenant.api,
        jobs[2]["id"],
        lambda j: (j["progress"] or {}).get("message") == "waiting for a slot (1 ahead)",
    )
    try:
        await page.get_by_role("link", name="Operations").click()
        await expect(page).to_have_url(re.compile("/operations$"))
        panel = page.get_by_role("region", name="Limits", exact=True)
        await expect(panel).to_be_visible()

        concurrency = panel.get_by_role("table", name="Concurrency limits")
        all_jobs = concurrency.get_by_role("row", name=re.compile("^All jobs"))
        await expect(all_jobs.locator("td")).to_have_text(["1", "1", "2"])
        rates = panel.get_by_role("table", name="API rate limits")
        await expect(rates).to_contain_text("job creations per API key")
        line = panel.get_by_role("table", name="Waiting for a slot")
        await expect(line.locator("tbody tr")).to_have_count(2)
        first = line.locator("tbody tr").nth(0)
        await expect(first).to_contain_text("next in line")
        await expect(line.locator("tbody tr").nth(1)).to_contain_text("1 ahead")
        await expect(first.get_by_role("link")).to_have_attribute("href", f"/jobs/{jobs[1]['id']}")

        form = panel.get_by_role("form", name="Change the limits")
        field = form.get_by_label("All jobs at once")
        await expect(field).to_have_value("1")
        await field.fill("0")
        await form.get_by_role("button", name="Save limits").click()
        error = form.locator("#limit-activeJobs-error")
        await expect(error).to_contain_text("activeJobs must be at least 1 (got 0)")
        await expect(field).to_have_attribute("aria-invalid", "true")
        await expect(field).to_have_attribute("aria-describedby", "limit-activeJobs-error")
        refused = (await tenant.api.get("/api/limits")).json()
        assert refused["concurrency"][0]["limit"] == 1  # nothing changed

        await field.fill("3")
        await form.get_by_role("button", name="Save limits").click()
        await expect(form.get_by_role("status")).to_have_text("Saved: the new limits apply now.")
        await expect(error).to_be_hidden()
        await expect(field).not_to_have_attribute("aria-invalid", "true")
        # The waiting jobs start at once; the panel shows it on its next refresh.
        for job in jobs:
            await wait_for_job(tenant.api, job["id"], lambda j: j["status"] == "active")
        await expect(all_jobs.locator("td")).to_have_text(["3", "3", "0"], timeout=20_000)
        await expect(panel.get_by_text("No job waits for a slot.")).to_be_visible()
        assert (await tenant.api.get("/api/limits")).json()["concurrency"][0]["limit"] == 3

        # The quotas: none by default; an admin sets them in the same form.
        quotas = panel.get_by_role("table", name="Quotas")
        stored = quotas.get_by_role("row", name=re.compile("^Stored files"))
        await expect(stored.locator("td").first).to_have_text("none")
        await form.get_by_label("Storage quota (bytes)").fill("5000000")
        await form.get_by_label("Days an ended job is kept").fill("30")
        await form.get_by_role("button", name="Save limits").click()
        await expect(form.get_by_role("status")).to_have_text("Saved: the new limits apply now.")
        await expect(stored.locator("td").first).not_to_have_text("none")
        history = quotas.get_by_role("row", name=re.compile("^Job history"))
        await expect(history.locator("td").first).to_have_text("30 days")
        saved = (await tenant.api.get("/api/limits")).json()["quotas"]
        assert saved["storage"]["limit"] == 5_000_000 and saved["jobHistoryDays"] == 30
    finally:
        for job in jobs:
            await tenant.api.patch(f"/api/jobs/{job['id']}/cancel")


async def test_a_member_sees_the_limits_but_cannot_change_them(
    browser: Browser, server: Server, stack: Stack, allowed_console: list[str]
) -> None:
    member = await new_tenant(stack, Role.MEMBER)
    async with signed_in_page(browser, server, member.key, allowed_console) as page:
        await page.get_by_role("link", name="Operations").click()
        panel = page.get_by_role("region", name="Limits", exact=True)
        concurrency = panel.get_by_role("table", name="Concurrency limits")
        await expect(concurrency.get_by_role("row", name=re.compile("^All jobs"))).to_be_visible()
        await expect(panel.get_by_text("No job waits for a slot.")).to_be_visible()
        await expect(
            panel.get_by_text("Only your organization's admins change its limits.")
        ).to_be_visible()
        await expect(panel.get_by_role("form")).to_have_count(0)
