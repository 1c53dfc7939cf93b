"""Start any job from the page: a form per type generated from its input's JSON Schema
(a conversion form with the organization's datasets offered), the API's refusal shown,
and a finished job re-run with its input edited."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import insert

from jobdeck.clock import utcnow
from jobdeck.store.tables import Dataset, Job
from tests.browser.conftest import Server
from tests.conftest import Stack, Tenant

pytestmark = pytest.mark.browser


async def test_a_job_started_from_its_generated_form(page: Page, tenant: Tenant) -> None:
    await page.get_by_role("link", name="New job").click()
    await expect(page).to_have_url(re.compile("/new-job"))
    chooser = page.get_by_label("Type", exact=True)
    await chooser.select_option("test-steps")
    await expect(page.get_by_text("Timed steps with progress (tests only)")).to_be_visible()
    # Every type a person may start, and not the one only jobdeck starts (a map step).
    offered = await chooser.locator("option").all_text_contents()
    assert "data-conversion" in offered and "pipeline-map" not in offered
    # The fields come from the schema: bounds, defaults and a checkbox for a boolean.
    steps = page.get_by_label("Steps", exact=True)
    await expect(steps).to_have_attribute("min", "0")
    await expect(steps).to_have_attribute("max", "100000")
    await expect(steps).to_have_attribute("placeholder", "5")
    await expect(page.get_by_label("Fail permanently")).not_to_be_checked()
    await page.get_by_label("Name *").fill("from the form")
    await page.get_by_label("Priority").select_option("2")
    await steps.fill("2")
    await page.get_by_label("Note").fill("typed in a form")
    await page.get_by_role("button", name="Start the job").click()
    await expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    await expect(page.get_by_role("heading", name="from the form")).to_be_visible()
    data = page.get_by_role("region", name="Input")
    await expect(data).to_contain_text('"steps": 2')
    await expect(data).to_contain_text('"note": "typed in a form"')
    job_id = page.url.rsplit("/", 1)[1]
    job = (await tenant.api.get(f"/api/jobs/{job_id}")).json()
    assert job["priority"] == 2 and job["type"] == "test-steps"
    # Left empty, the other fields were not sent: the type's defaults applied.
    assert job["data"]["step_seconds"] == 0.05 and job["data"]["fail_times"] == 0


async def test_the_apis_refusal_is_shown_and_json_editing(
    page: Page, server: Server, allowed_console: list[str]
) -> None:
    allowed_console.append("status of 422")  # the refusal this test asks for
    await page.goto(server.url + "/new-job?type=test-steps")
    await page.get_by_label("Name *").fill("bad input")
    await page.get_by_text("Edit as JSON").click()
    editor = page.get_by_label("Input as JSON")
    await editor.fill('{"steps": -1}')
    await page.get_by_role("button", name="Start the job").click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text(
        "Could not start the job: invalid data for a test-steps job"
    )
    await expect(alert).to_contain_text("data.steps: Input should be greater than or equal to 0")
    await editor.fill('{"steps": ')
    await page.get_by_role("button", name="Start the job").click()
    await expect(alert).to_have_text("The JSON input cannot be read: check its quotes and commas.")
    # Closing the editor puts readable JSON back in the form.
    await editor.fill('{"steps": 7, "note": "via json"}')
    await page.get_by_text("Edit as JSON").click()
    await expect(page.get_by_label("Steps", exact=True)).to_have_value("7")
    await expect(page.get_by_label("Note")).to_have_value("via json")


async def test_a_conversion_form_offers_the_datasets(
    page: Page, server: Server, stack: Stack, tenant: Tenant
) -> None:
    dataset_id = str(uuid.uuid4())
    async with stack.db.write() as session:
        await session.execute(
            insert(Dataset),
            [
                {
                    "id": dataset_id,
                    "organization_id": tenant.account.organization_id,
                    "user_id": tenant.account.user_id,
                    "name": "tickets.csv",
                    "format": "csv",
                    "size_bytes": 10,
                    "sha256": "0" * 64,
                    "storage_key": "x/tickets.csv",
                    "created_at": utcnow(),
                }
            ],
        )
    await page.goto(server.url + "/new-job?type=data-conversion")
    await expect(page).to_have_url(re.compile(r"/new-job\?type=data-conversion$"))
    dataset = page.get_by_label("Dataset id *")
    options = page.locator(f"datalist option[value='{dataset_id}']")
    await expect(options).to_have_text("tickets.csv (csv)")
    output = page.get_by_label("Output format *")
    await expect(output.locator("option")).to_have_text(["jsonl", "csv", "parquet", "openai-chat"])
    # The chat mapping is a nested fieldset of its own.
    await expect(page.get_by_role("group", name="Mapping")).to_be_visible()
    await page.get_by_label("Name *").fill("convert tickets")
    await dataset.fill(dataset_id)
    await output.select_option("jsonl")
    await page.get_by_role("button", name="Start the job").click()
    await expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    data = page.get_by_role("region", name="Input")
    await expect(data).to_contain_text(f'"datasetId": "{dataset_id}"')
    await expect(data).to_contain_text('"outputFormat": "jsonl"')


async def test_rerun_a_finished_job_with_edited_input(
    page: Page, server: Server, stack: Stack, tenant: Tenant
) -> None:
    job_id = str(uuid.uuid4())
    now = utcnow()
    async with stack.db.write() as session:
        await session.execute(
            insert(Job),
            [
                {
                    "id": job_id,
                    "organization_id": tenant.account.organization_id,
                    "user_id": tenant.account.user_id,
                    "type": "test-steps",
                    "name": "nightly",
                    "description": "the first run",
                    "status": "completed",
                    "priority": 4,
                    "data": {"steps": 2, "step_seconds": 0, "note": "first"},
                    "attempts": 1,
                    "created_at": now,
                    "updated_at": now,
                    "started_at": now,
                    "finished_at": now,
                }
            ],
        )
    await page.goto(f"{server.url}/jobs/{job_id}")
    await page.get_by_role("link", name="Re-run with edited input").click()
    await expect(page.get_by_role("heading", name="Re-run “nightly”")).to_be_visible()
    await expect(page.get_by_label("Type", exact=True)).to_have_value("test-steps")
    await expect(page.get_by_label("Name *")).to_have_value("nightly (re-run)")
    await expect(page.get_by_label("Description")).to_have_value("the first run")
    await expect(page.get_by_label("Priority")).to_have_value("4")
    await expect(page.get_by_label("Steps", exact=True)).to_have_value("2")
    note = page.get_by_label("Note")
    await expect(note).to_have_value("first")
    await note.fill("edited")
    await page.get_by_role("button", name="Start the job").click()
    await expect(page.get_by_role("heading", name="nightly (re-run)")).to_be_visible()
    data = page.get_by_role("region", name="Input")
    await expect(data).to_contain_text('"note": "edited"')
    await expect(data).to_contain_text('"steps": 2')
