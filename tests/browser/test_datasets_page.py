"""The datasets pages: upload with progress, a conversion's output appearing live with its
lineage, the validation report, and validating from the page."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Server
from tests.conftest import Tenant
from tests.helpers import wait_for_job

pytestmark = pytest.mark.browser

QA_CSV = "q,a\n" + "".join(f"question {i}?,answer {i}.\n" for i in range(12))


async def test_upload_convert_and_validate(
    page: Page, tenant: Tenant, server: Server, allowed_console: list[str]
) -> None:
    allowed_console.append("422")  # the refused upload, as the browser logs it
    await (
        page.get_by_role("navigation", name="Sections").get_by_role("link", name="Datasets").click()
    )
    await expect(page.get_by_role("heading", level=1, name="Datasets")).to_be_visible()

    file = page.get_by_label("File (CSV, TSV, JSON, JSONL, Parquet, XLSX)")
    await file.set_input_files({"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hi"})
    await page.get_by_role("button", name="Upload").click()
    await expect(page.get_by_role("alert")).to_contain_text(
        "the format of “notes.txt” cannot be told from its name. Choose it under Format"
    )

    await file.set_input_files(
        {"name": "qa.csv", "mimeType": "text/csv", "buffer": QA_CSV.encode()}
    )
    await page.get_by_label("Name (optional)").fill("support questions")
    await page.get_by_role("button", name="Upload").click()
    await expect(page.get_by_role("progressbar", name="Upload progress")).to_have_attribute(
        "aria-valuenow", "100"
    )
    source_row = page.get_by_role("row").filter(has_text="support questions")
    await expect(source_row).to_contain_text("csv")
    await expect(source_row).to_contain_text("uploaded")
    listed = (await tenant.api.get("/api/datasets")).json()["data"]
    assert [d["name"] for d in listed] == ["support questions"]
    source = listed[0]

    # A conversion started elsewhere: its output appears here when the job ends.
    response = await tenant.api.post(
        "/api/jobs",
        json={
            "type": "data-conversion",
            "name": "support to chat",
            "data": {
                "datasetId": source["id"],
                "outputFormat": "openai-chat",
                "mapping": {"user": "q", "assistant": "a"},
            },
        },
    )
    assert response.status_code == 201, response.text
    job = await wait_for_job(tenant.api, response.json()["id"])
    assert job["status"] == "completed", job
    output_id = job["result"]["datasetId"]
    output_row = page.get_by_role("row").filter(has=page.get_by_role("link", name="a dataset"))
    await expect(output_row).to_contain_text("jsonl")
    await expect(output_row).to_contain_text("valid")

    await output_row.get_by_role("link").first.click()
    await expect(page).to_have_url(re.compile(f"/datasets/{output_id}$"))
    lineage = page.get_by_role("region", name="Lineage")
    await expect(lineage.get_by_role("link", name="the source dataset")).to_have_attribute(
        "href", f"/datasets/{source['id']}"
    )
    await expect(lineage.get_by_role("link", name="the conversion job")).to_have_attribute(
        "href", f"/jobs/{job['id']}"
    )
    report = page.get_by_role("region", name="Validation report")
    await expect(report).to_contain_text(re.compile(r"Valid: 12 examples for \S+"))
    await expect(report).to_contain_text(re.compile(r"Estimated cost\s*\$\d+\.\d\d for \d+ epochs"))

    await page.get_by_role("button", name="Validate for fine-tuning").click()
    await expect(report.get_by_text("Completed")).to_be_visible()
    await expect(report.get_by_role("link", name="View the validation job")).to_be_visible()
    await expect(page.get_by_role("button", name="Validate for fine-tuning")).to_be_enabled()

    await lineage.get_by_role("link", name="the source dataset").click()
    await expect(page.get_by_role("heading", level=1, name="support questions")).to_be_visible()
    output = (await tenant.api.get(f"/api/datasets/{output_id}")).json()
    await expect(
        page.get_by_role("region", name="Lineage").get_by_role("link", name=output["name"])
    ).to_have_attribute("href", f"/datasets/{output_id}")
    await expect(page.get_by_role("button", name="Validate for fine-tuning")).to_be_hidden()

    # The conversion job's page links the datasets it used and made.
    await page.goto(f"{server.url}/jobs/{job['id']}")
    await expect(page.get_by_role("link", name="the input dataset")).to_have_attribute(
        "href", f"/datasets/{source['id']}"
    )
    await expect(page.get_by_role("link", name="the output dataset")).to_have_attribute(
        "href", f"/datasets/{output_id}"
    )
