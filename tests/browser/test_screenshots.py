"""Screenshots of the main views for docs/, taken when JOBDECK_SCREENSHOTS names a folder
(`python docs/screenshots.py` does that); skipped otherwise."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import Server, live_indicator, new_context, row
from tests.browser.showcase import seed
from tests.conftest import Stack, Tenant
from tests.fine_tuning.conftest import FineTuneStack, chat_jsonl, start_fine_tune, upload_dataset
from tests.helpers import create_job, wait_for_job

OUT = os.environ.get("JOBDECK_SCREENSHOTS", "")
VERBS = [
    "reset my password",
    "export invoices",
    "add a teammate",
    "change plans",
    "close my account",
]
VERBS = VERBS * 3
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not OUT, reason="set JOBDECK_SCREENSHOTS=<folder> to take screenshots"),
]


async def _open(browser: Browser, key: str, url: str, **options: object) -> Page:
    context = await new_context(browser, key=key, **options)
    page = await context.new_page()
    await page.goto(url)
    await expect(live_indicator(page)).to_have_text("Live")
    return page


async def test_screenshots(browser: Browser, server: Server, stack: Stack, tenant: Tenant) -> None:
    out = Path(OUT)
    account = tenant.account
    ids = await seed(stack, account.organization_id, account.user_id)
    for name, steps in (("Embed product catalogue", 600), ("Nightly evaluation run", 900)):
        await create_job(
            tenant.api,
            name=name,
            description="Real job, live progress",
            data={"steps": steps, "step_seconds": 0.02},
        )
    await asyncio.sleep(3)
    desktop = {"viewport": {"width": 1360, "height": 820}, "device_scale_factor": 1}
    for scheme in ("light", "dark"):
        page = await _open(browser, account.key, server.url + "/", color_scheme=scheme, **desktop)
        await expect(row(page, "Embed product catalogue").get_by_text("Active")).to_be_visible()
        await page.screenshot(path=out / f"dashboard-jobs-{scheme}.png")
        await page.context.close()

    page = await _open(
        browser, account.key, f"{server.url}/jobs/{ids['support-bot v7 (gpt-4o-mini)']}", **desktop
    )
    await expect(page.get_by_role("heading", level=1)).to_have_text("support-bot v7 (gpt-4o-mini)")
    await expect(page.get_by_text("Stage: training")).to_be_visible()
    await page.screenshot(path=out / "dashboard-job-detail.png", full_page=True)
    await page.goto(f"{server.url}/jobs/{ids['Contracts Q2: extract clauses']}")
    await expect(page.get_by_role("region", name="Error")).to_be_visible()
    await expect(page.get_by_role("list").get_by_text("Started", exact=True)).to_be_visible()
    await page.screenshot(path=out / "dashboard-job-failed.png", full_page=True)
    await page.context.close()

    # Datasets: an upload and its conversion to chat JSONL (with its validation report).
    qa = "question,answer\n" + "".join(f"How do I {v}?,Open settings and {v}.\n" for v in VERBS)
    response = await tenant.api.post(
        "/api/datasets", files={"file": ("support-faq.csv", qa.encode())}
    )
    source = response.json()
    job = await create_job(
        tenant.api,
        type="data-conversion",
        name="support FAQ to chat",
        data={
            "datasetId": source["id"],
            "outputFormat": "openai-chat",
            "mapping": {"user": "question", "assistant": "answer", "systemPrompt": "Be brief."},
        },
    )
    done = await wait_for_job(tenant.api, job["id"])
    page = await _open(browser, account.key, f"{server.url}/datasets", **desktop)
    await expect(page.get_by_role("link", name="support-faq.csv")).to_be_visible()
    await page.screenshot(path=out / "dashboard-datasets.png")
    await page.goto(f"{server.url}/datasets/{done['result']['datasetId']}")
    await expect(page.get_by_role("region", name="Validation report")).to_contain_text("tokens")
    await page.screenshot(path=out / "dashboard-dataset.png", full_page=True)
    await page.context.close()

    page = await _open(
        browser,
        account.key,
        server.url + "/",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        device_scale_factor=2,
    )
    await page.screenshot(path=out / "dashboard-phone.png")
    await page.context.close()


async def test_fine_tune_screenshot(
    browser: Browser, ft: FineTuneStack, ft_server: Server, tenant: Tenant
) -> None:
    """A finished fine-tune's page (fake OpenAI, with a validation file): its loss curves."""
    dataset_id = await upload_dataset(ft.api, chat_jsonl(40), name="pirate-voice.jsonl")
    valid_id = await upload_dataset(ft.api, chat_jsonl(12), name="pirate-voice-valid.jsonl")
    record = await start_fine_tune(
        ft.api, dataset_id, name="pirate voice", validationDatasetId=valid_id, suffix="pirate"
    )
    await wait_for_job(ft.api, record["id"])
    page = await _open(
        browser,
        tenant.account.key,
        f"{ft_server.url}/fine-tuning/{record['id']}",
        viewport={"width": 1360, "height": 820},
        device_scale_factor=1,
    )
    await expect(page.locator(".detail-badge")).to_have_text("Completed")
    await expect(page.get_by_role("link", name="the model")).to_be_visible()
    await page.screenshot(path=Path(OUT) / "dashboard-fine-tune.png", full_page=True)
    await page.context.close()
