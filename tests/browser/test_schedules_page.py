"""The schedules page: create a schedule with the cron read out in words as it is typed,
see its next run, pause and resume it, trigger a run, edit and delete it; one that runs a
saved pipeline; a run refused when it fired, shown with why and no job link."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Server
from tests.conftest import Stack, Tenant
from tests.pipelines.helpers import save
from tests.schedules.test_pipeline_schedules import COUNT
from tests.schedules.test_scheduled_checks import handle_of
from tests.schedules.test_schedules_api import create, new_member, wait_for_miss, wait_for_runs

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
    data = page.get_by_label("Job data or pipeline inputs (JSON)")
    await data.fill('{"steps": 1, "step_seconds": 0}')
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


async def test_a_schedule_runs_a_saved_pipeline(
    page: Page, tenant: Tenant, server: Server, allowed_console: list[str]
) -> None:
    pipeline = await save(tenant.api, "counter", COUNT)
    nav = page.get_by_role("navigation", name="Sections")
    await nav.get_by_role("link", name="Schedules").click()
    await expect(page.get_by_text("No schedules yet. Create one above.")).to_be_visible()
    await page.get_by_label("Name", exact=True).fill("nightly count")
    await page.get_by_label("Job type or pipeline").select_option(label="Pipeline: counter")
    await page.get_by_label("Cron (minute hour day month weekday)").fill("@daily")
    await page.get_by_label("Job data or pipeline inputs (JSON)").fill('{"rows": [1]}')
    await page.get_by_role("button", name="Create schedule").click()

    row = page.get_by_role("row").filter(has_text="nightly count")
    await expect(row).to_contain_text("Pipeline: counter (v1)")
    (schedule,) = (await tenant.api.get("/api/schedules")).json()["data"]
    assert schedule["pipeline"]["id"] == pipeline["id"]
    assert schedule["pipeline"]["inputs"] == {"rows": [1], "label": "rows"}
    await row.get_by_role("button", name="Trigger now").click()
    (run,) = await wait_for_runs(tenant.api, schedule["id"], 1)
    assert run["type"] == "workflow-execution"

    # Editing shows the pipeline and its inputs; bad inputs get the API's reason.
    await row.get_by_role("button", name="Edit").click()
    await expect(page.get_by_label("Job type or pipeline")).to_have_value(
        "pipeline:" + pipeline["id"]
    )
    inputs = page.get_by_label("Job data or pipeline inputs (JSON)")
    await expect(inputs).to_have_value(re.compile(r'"label": "rows"'))
    allowed_console.append("422")
    await inputs.fill("{}")
    await page.get_by_role("button", name="Save schedule").click()
    await expect(page.get_by_role("alert")).to_contain_text("inputs.rows: required input")


async def test_a_refused_run_says_why_and_links_no_job(
    page: Page, stack: Stack, tenant: Tenant, server: Server
) -> None:
    # A member's schedule fires after their only key is revoked: refused, no job.
    member = await new_member(stack, tenant)
    async with stack.client(member.key) as api:
        schedule = await create(api, name="refused nightly", paused=True)
    revoked = await tenant.api.delete(f"/api/keys/{member.key_id}")
    assert revoked.status_code == 200, revoked.text
    await handle_of(stack, tenant, schedule).trigger()
    (miss,) = (await wait_for_miss(tenant.api, schedule["id"]))["missed"]

    nav = page.get_by_role("navigation", name="Sections")
    await nav.get_by_role("link", name="Schedules").click()
    row = page.get_by_role("row").filter(has_text="refused nightly")
    last = row.locator("td").nth(4)  # the "Last run" column
    await expect(last).to_contain_text(f"Refused: {miss['message']}")
    await expect(last.get_by_role("link")).to_have_count(0)
