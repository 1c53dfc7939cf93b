"""The fine-tuning pages: start a fine-tune from the form against the fake OpenAI, follow
it live on its page to the end with its loss curve, and find its model in the models list."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Server
from tests.fine_tuning.conftest import FineTuneStack, chat_jsonl, upload_dataset

pytestmark = pytest.mark.browser


async def test_start_a_fine_tune_and_watch_it(
    ft_page: Page, ft: FineTuneStack, ft_server: Server, allowed_console: list[str]
) -> None:
    page = ft_page
    allowed_console.append("422")  # the refused start, as the browser logs it
    dataset_id = await upload_dataset(ft.api, chat_jsonl(), name="pirate.jsonl")
    validation = await ft.api.post(f"/api/datasets/{dataset_id}/validate", json={})
    assert validation.status_code in (200, 201, 202), validation.text

    await (
        page.get_by_role("navigation", name="Sections")
        .get_by_role("link", name="Fine-tuning")
        .click()
    )
    await expect(page.get_by_role("heading", level=1, name="Fine-tuning")).to_be_visible()
    form = page.get_by_role("form", name="Start a fine-tune")
    await expect(form.get_by_label("Ollama")).to_be_visible()
    await expect(form).to_contain_text("Ollama does not train")
    await expect(form.get_by_label("OpenAI")).to_be_checked()
    await expect(form.get_by_role("group", name="Hyperparameters")).to_be_visible()
    # Ollama takes neither hyperparameters nor training options: the form shows neither.
    await form.get_by_label("Ollama").check()
    await expect(form.get_by_role("group", name="Hyperparameters")).to_have_count(0)
    await expect(form.get_by_role("group", name="Training")).to_have_count(0)
    await form.get_by_label("OpenAI").check()

    await form.get_by_label("Training dataset").select_option(dataset_id)
    info = page.locator("#ft-dataset-info")
    await expect(info).to_contain_text(re.compile(r"Valid: 12 examples|Not validated yet"))
    await form.get_by_label("Name", exact=True).fill("pirate voice")
    await form.get_by_label("Base model").select_option("gpt-4o-mini-2024-07-18")

    # A bad hyperparameter: the API's 422 detail shows next to the form.
    await form.get_by_label("Epochs").fill("500")
    await form.get_by_role("button", name="Start fine-tune").click()
    await expect(form.get_by_role("alert")).to_contain_text("nEpochs")
    await form.get_by_label("Epochs").fill("3")
    await form.get_by_role("button", name="Start fine-tune").click()

    await expect(page).to_have_url(re.compile(r"/fine-tuning/[^/]+$"))
    fine_tune_id = page.url.rsplit("/", 1)[1]
    await expect(page.get_by_role("heading", level=1, name="pirate voice")).to_be_visible()
    await expect(page.locator(".detail-badge")).to_have_text("Completed", timeout=25_000)
    details = page.get_by_role("region", name="Details")
    await expect(details).to_contain_text("succeeded")
    await expect(details).to_contain_text(re.compile(r"Trained tokens\s*[\d,.]+"))
    await expect(details).to_contain_text("ft:gpt-4o-mini")
    await expect(page.locator("main")).not_to_contain_text("null")  # no missing part as text
    chart = page.get_by_role("img", name="Loss curve")
    points = await chart.locator("polyline.loss-train").get_attribute("points")
    assert points is not None and len(points.split()) >= 2, points
    record = (await ft.api.get(f"/api/fine-tuning/jobs/{fine_tune_id}")).json()
    assert record["modelId"], record
    lineage = page.get_by_role("region", name="Lineage")
    await expect(lineage.get_by_role("link", name="the background job")).to_have_attribute(
        "href", f"/jobs/{fine_tune_id}"
    )
    await expect(lineage.get_by_role("link", name="the model")).to_have_attribute(
        "href", f"/fine-tuning/models/{record['modelId']}"
    )

    await lineage.get_by_role("link", name="the background job").click()
    await expect(page.get_by_role("link", name="the fine-tune's page")).to_have_attribute(
        "href", f"/fine-tuning/{fine_tune_id}"
    )
    await (
        page.get_by_role("navigation", name="Sections")
        .get_by_role("link", name="Fine-tuning")
        .click()
    )
    models = page.get_by_role("region", name="Models")
    model_row = models.get_by_role("row").filter(has_text=record["fineTunedModel"])
    await expect(model_row.get_by_role("link", name="the dataset")).to_have_attribute(
        "href", f"/datasets/{dataset_id}"
    )
    await expect(model_row.get_by_role("link", name="the fine-tune")).to_have_attribute(
        "href", f"/fine-tuning/{fine_tune_id}"
    )
