"""Defects a new user hit: live rows and filters, type chip colours, paging scroll, cancel
confirmation, missing values, the upload error and the empty list's first steps."""

from __future__ import annotations

import colorsys
import itertools
import re

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import Server, live_indicator, new_context, row, store_jobs
from tests.conftest import Stack, Tenant
from tests.helpers import create_job, wait_for_job

pytestmark = pytest.mark.browser


async def open_filtered(page: Page, server: Server, query: str) -> None:
    await page.goto(f"{server.url}/{query}")
    await expect(live_indicator(page)).to_have_text("Live")
    await expect(page.get_by_role("table")).to_be_visible()


async def test_a_job_that_fails_after_load_enters_the_failed_list(
    page: Page, server: Server, tenant: Tenant
) -> None:
    await open_filtered(page, server, "?status=failed")
    await expect(page.get_by_text("No jobs match these filters.")).to_be_visible()
    job = await create_job(
        tenant.api, name="fails later", data={"steps": 3, "fail_permanently": True}
    )
    await wait_for_job(tenant.api, job["id"])
    line = row(page, "fails later")
    await expect(line).to_be_visible()
    await expect(line.get_by_text("Failed")).to_be_visible()
    await expect(page.get_by_role("button", name="Failed: 1 jobs")).to_be_visible()


async def test_a_job_that_completes_after_load_enters_the_completed_list(
    page: Page, server: Server, tenant: Tenant
) -> None:
    await open_filtered(page, server, "?status=completed")
    job = await create_job(tenant.api, name="done later", data={"steps": 3, "step_seconds": 0.1})
    await expect(row(page, "done later")).to_have_count(0)
    await wait_for_job(tenant.api, job["id"])
    await expect(row(page, "done later").get_by_text("Completed")).to_be_visible()


async def test_rows_enter_and_leave_a_pending_or_active_list(
    page: Page, server: Server, tenant: Tenant
) -> None:
    await open_filtered(page, server, "?status=pending,active")
    job = await create_job(
        tenant.api, name="passing through", data={"steps": 15, "step_seconds": 0.1}
    )
    line = row(page, "passing through")
    await expect(line).to_be_visible()
    await expect(line.get_by_text("Active")).to_be_visible()
    await wait_for_job(tenant.api, job["id"])
    await expect(line).to_have_count(0)
    await expect(page.get_by_text("No jobs match these filters.")).to_be_visible()
    assert "status=pending%2Cactive" in page.url or "status=pending,active" in page.url


async def test_live_rows_follow_the_type_and_search_filters(
    page: Page, server: Server, tenant: Tenant
) -> None:
    await open_filtered(page, server, "?status=completed&q=wanted")
    other = await create_job(tenant.api, name="not this one", data={"steps": 2})
    job = await create_job(tenant.api, name="wanted report", data={"steps": 2})
    await wait_for_job(tenant.api, other["id"])
    await wait_for_job(tenant.api, job["id"])
    await expect(row(page, "wanted report").get_by_text("Completed")).to_be_visible()
    await expect(row(page, "not this one")).to_have_count(0)


CHIP_COLOURS = """async (types) => {
  const { typeChip } = await import("/assets/js/table.js");
  const box = document.createElement("div");
  document.querySelector("main").append(box);
  const parse = (text) => text.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const out = types.map((type) => {
    const chip = typeChip(type);
    box.append(chip);
    const style = getComputedStyle(chip);
    return { type, ink: parse(style.color), paper: parse(style.backgroundColor),
             alpha: style.backgroundColor.startsWith("rgba") ? style.backgroundColor : "" };
  });
  box.remove();
  return out;
}"""


def luminance(rgb: list[float]) -> float:
    def channel(v: float) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: list[float], b: list[float]) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_every_type_chip_has_its_own_readable_colour(
    page: Page, tenant: Tenant, scheme: str
) -> None:
    response = await tenant.api.get("/api/jobs/types")
    assert response.status_code == 200, response.text
    types = sorted(
        {t["name"] for t in response.json()}
        | {
            "dataset-validation",
            "model-training",
            "bulk-operation",
            "data-conversion",
            "fine-tuning",
            "model-publish",
            "document-processing",
            "workflow-execution",
        }
    )
    await page.emulate_media(color_scheme=scheme)
    chips = await page.evaluate(CHIP_COLOURS, types)
    for chip in chips:
        assert not chip["alpha"], chip
        ratio = contrast(chip["ink"], chip["paper"])
        assert ratio >= 4.5, f"{chip['type']} chip: {ratio:.2f}:1 in {scheme} mode"
    # Distinct to the eye, not just in the last digit: hues at least 15° apart.
    hues = {chip["type"]: hue(chip["paper"]) for chip in chips}
    for a, b in itertools.combinations(hues, 2):
        apart = abs(hues[a] - hues[b]) % 360
        apart = min(apart, 360 - apart)
        assert apart >= 15, f"{a} and {b} share a colour ({hues[a]:.0f}° and {hues[b]:.0f}°)"


def hue(rgb: list[float]) -> float:
    h, _, _ = colorsys.rgb_to_hls(*(v / 255 for v in rgb))
    return h * 360


async def test_older_brings_the_top_of_the_table_into_view(
    browser: Browser, server: Server, stack: Stack, tenant: Tenant
) -> None:
    await store_jobs(stack, tenant, 60)
    context = await new_context(
        browser, key=tenant.account.key, viewport={"width": 1200, "height": 700}
    )
    page = await context.new_page()
    try:
        await page.goto(server.url + "/")
        rows = page.get_by_role("row")
        await expect(rows).to_have_count(51)
        older = page.get_by_role("button", name="Older")
        await older.scroll_into_view_if_needed()
        assert await page.evaluate("() => window.scrollY") > 500
        await older.click()
        await expect(rows.nth(1)).to_contain_text("stored job 09")
        await expect(rows.nth(1)).to_be_in_viewport()
        top = await page.evaluate(
            "() => document.querySelector('.table-wrap').getBoundingClientRect().top"
        )
        bar = await page.evaluate(
            "() => document.querySelector('.topbar').getBoundingClientRect().bottom"
        )
        assert bar <= top < 200, (bar, top)
    finally:
        await context.close()


async def test_single_cancel_asks_first(page: Page, tenant: Tenant) -> None:
    job = await create_job(tenant.api, name="slow one", data={"steps": 400, "step_seconds": 0.1})
    line = row(page, "slow one")
    await expect(line.get_by_text("Active")).to_be_visible()
    await line.get_by_role("button", name="Cancel slow one").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("Cancel “slow one”?")
    await dialog.get_by_role("button", name="Keep it").click()
    await expect(dialog).to_be_hidden()
    assert (await tenant.api.get(f"/api/jobs/{job['id']}")).json()["status"] == "active"
    await line.get_by_role("button", name="Cancel slow one").click()
    await dialog.get_by_role("button", name="Cancel it").click()
    await expect(line.get_by_text("Cancelled", exact=True)).to_be_visible()


async def test_a_missing_value_on_a_dataset_page_shows_a_dash(page: Page, server: Server) -> None:
    dataset = {
        "id": "ds-1",
        "name": "sparse.jsonl",
        "format": "jsonl",
        "sizeBytes": 10,
        "sha256": "ab" * 32,
        "rowCount": None,
        "sourceDatasetId": None,
        "jobId": None,
        "createdAt": "2024-05-01T10:00:00Z",
        "details": {"columns": None, "encoding": "utf-8"},
        "validation": {
            "valid": False,
            "examples": 3,
            "model": None,
            "errors": [{"message": "No messages", "count": 1, "firstLines": [None]}],
            "warnings": [],
            "tokens": {
                "encoding": None,
                "total": 5,
                "min": 1,
                "max": None,
                "mean": 2,
                "contextLimit": None,
                "overContextLimit": 0,
            },
            "billing": {
                "epochs": None,
                "epochsDefaulted": True,
                "billedTokens": None,
                "estimatedCostUsd": None,
                "pricesAsOf": None,
            },
        },
    }

    async def fulfil(route, request) -> None:  # type: ignore[no-untyped-def]
        if request.url.split("?")[0].endswith("/api/datasets/ds-1"):
            await route.fulfill(json=dataset)
        else:
            await route.fulfill(json={"data": [], "nextCursor": None})

    await page.route(re.compile(r"/api/datasets(/ds-1)?(\?.*)?$"), fulfil)
    await page.goto(server.url + "/datasets/ds-1")
    await expect(page.get_by_role("heading", level=1, name="sparse.jsonl")).to_be_visible()
    await expect(page.get_by_text("examples for –")).to_be_visible()
    await page.get_by_text("What reading it found").click()
    text = await page.locator("main").inner_text()
    assert "null" not in text, text


async def test_the_upload_form_offers_a_format_when_the_name_cannot_tell(
    page: Page, allowed_console: list[str]
) -> None:
    allowed_console.append("422")
    await (
        page.get_by_role("navigation", name="Sections").get_by_role("link", name="Datasets").click()
    )
    file = page.get_by_label("File (CSV, TSV, JSON, JSONL, Parquet, XLSX)")
    await file.set_input_files(
        {"name": "qa.txt", "mimeType": "text/plain", "buffer": b"q,a\nhi?,hello.\n"}
    )
    await page.get_by_role("button", name="Upload").click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("Choose it under Format")
    await expect(alert).not_to_contain_text("'format' field")
    await page.get_by_label("Format").select_option("csv")
    await page.get_by_role("button", name="Upload").click()
    await expect(page.get_by_role("link", name="qa.txt")).to_be_visible()
    await expect(alert).to_be_hidden()


async def test_the_empty_list_shows_first_steps_and_starts_a_job(
    page: Page, server: Server, tenant: Tenant
) -> None:
    await page.goto(server.url)
    await expect(live_indicator(page)).to_have_text("Live")
    steps = page.locator(".first-steps")
    await expect(steps).to_contain_text("No jobs yet")
    await expect(steps).to_contain_text('jobdeck jobs create bulk-operation "my first job"')
    await expect(steps).to_contain_text(f"curl -X POST {server.url}/api/jobs")
    await expect(steps.get_by_role("link", name="the API reference")).to_have_attribute(
        "href", "/docs"
    )
    await steps.get_by_role("button", name="Start a sample job").click()
    await expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    job_id = page.url.rsplit("/", 1)[1]
    done = await wait_for_job(tenant.api, job_id)
    assert done["status"] == "completed" and done["type"] == "bulk-operation", done
    await expect(page.get_by_text("completed").first).to_be_visible()
