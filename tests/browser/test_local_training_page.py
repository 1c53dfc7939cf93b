"""Local LoRA fine-tuning from the dashboard, for real: a tiny model in the base-models
directory, a fine-tune started from the form with the local provider (CPU), its page with
the train and validation loss curves, the kept checkpoints and the model's files
(downloaded), and publishing the adapter to the fake Ollama, followed live to the
published model's name; a publish the API refuses, its message shown in place; and the
local provider offered disabled, with what it needs, where no worker can train."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from jobdeck.training import available
from tests.browser.conftest import Server, signed_in_page
from tests.conftest import Stack, Tenant, open_stack
from tests.fine_tuning.conftest import FineTuneStack, upload_dataset
from tests.helpers import wait_for_job
from tests.training.tiny_model import BASE, chat_examples, chat_jsonl

pytestmark = pytest.mark.browser

OLLAMA_BASE = "llama3.2:1b"


def points(count: int) -> re.Pattern[str]:
    """A polyline's `points` attribute with this many points."""
    return re.compile(rf"^[\d.]+,[\d.]+(?: [\d.]+,[\d.]+){{{count - 1}}}$")


async def open_fine_tuning(page: Page) -> None:
    await (
        page.get_by_role("navigation", name="Sections")
        .get_by_role("link", name="Fine-tuning")
        .click()
    )
    await expect(page.get_by_role("heading", level=1, name="Fine-tuning")).to_be_visible()


async def test_train_locally_watch_the_curve_and_publish_to_ollama(
    ft_page: Page, ft: FineTuneStack, tiny_base: Path, allowed_console: list[str]
) -> None:
    page = ft_page
    allowed_console.append("422")  # the refused start, as the browser logs it
    train = await upload_dataset(ft.api, chat_jsonl(chat_examples(32)), "tiny-train.jsonl")
    valid = await upload_dataset(ft.api, chat_jsonl(chat_examples(8, seed=99)), "tiny-valid.jsonl")

    await open_fine_tuning(page)
    form = page.get_by_role("form", name="Start a fine-tune")
    local = form.get_by_label("Local LoRA")
    await expect(local).to_be_enabled()
    await expect(form).to_contain_text("LoRA fine-tuning on a training worker")
    await expect(form.get_by_role("group", name="Hyperparameters")).to_be_visible()
    await local.check()
    training = form.get_by_role("group", name="Training")
    await expect(training).to_be_visible()
    await expect(form.get_by_role("group", name="Hyperparameters")).to_have_count(0)

    await form.get_by_label("Training dataset").select_option(train)
    await form.get_by_label("Validation dataset").select_option(valid)
    await form.get_by_label("Name", exact=True).fill("tiny voice")
    await form.get_by_label("Base model", exact=True).select_option(BASE)
    await form.get_by_label("Suffix").fill("qa")
    await training.get_by_label("Epochs").fill("2")
    await training.get_by_label("Batch size").fill("4")
    await training.get_by_label("Learning rate").fill("0.005")
    await training.get_by_label("Device").select_option("cpu")
    await training.get_by_label("Checkpoint every").fill("4")
    await training.get_by_label("Loss every").fill("2")
    await training.get_by_label("Ollama base model").fill(OLLAMA_BASE)

    # A bad option: the API's 422 detail shows next to the form, and nothing starts.
    await training.get_by_label("LoRA rank").fill("0")
    await form.get_by_role("button", name="Start fine-tune").click()
    await expect(form.get_by_role("alert")).to_contain_text("training.lora.rank")
    await expect(page).to_have_url(re.compile(r"/fine-tuning$"))
    await training.get_by_label("LoRA rank").fill("4")
    await form.get_by_role("button", name="Start fine-tune").click()

    await expect(page).to_have_url(re.compile(r"/fine-tuning/[^/]+$"))
    job_id = page.url.rsplit("/", 1)[1]
    await expect(page.get_by_role("heading", level=1, name="tiny voice")).to_be_visible()
    await expect(page.locator(".detail-badge")).to_have_text("Completed", timeout=30_000)
    progress = page.get_by_role("region", name="Progress")
    await expect(progress.locator(".phase")).to_have_text("succeeded")
    await expect(progress).to_contain_text("16/16 steps")  # 32 examples / 4, two epochs

    # Train loss every 2 steps, validation loss at each checkpoint: two series.
    chart = page.get_by_role("img", name="Loss curve")
    await expect(chart.locator("polyline.loss-train")).to_have_attribute("points", points(8))
    await expect(chart.locator("polyline.loss-valid")).to_have_attribute("points", points(4))
    await expect(page.locator(".loss-legend").get_by_text("Validation loss")).to_be_visible()
    await expect(page.locator(".loss-latest")).to_contain_text("Step 16 of 16")

    checkpoints = page.get_by_role("region", name="Checkpoints")
    await expect(checkpoints.locator(".checkpoint-step")).to_have_text(["Step 8", "Step 12"])
    await expect(checkpoints.get_by_role("listitem").last).to_contain_text(
        f"{job_id}/checkpoints/step-00000012"
    )
    details = page.get_by_role("region", name="Details")
    await expect(details).to_contain_text("device cpu")
    await expect(details).to_contain_text("lora rank 4")

    record = (await ft.api.get(f"/api/fine-tuning/jobs/{job_id}")).json()
    model_id, model_name = record["modelId"], record["fineTunedModel"]
    assert model_id and model_name, record
    model = page.get_by_role("region", name="Model", exact=True)
    await expect(model.get_by_role("link", name=model_name)).to_have_attribute(
        "href", f"/fine-tuning/models/{model_id}"
    )
    await expect(model).to_contain_text(re.compile(r"Trained on\s*cpu"))
    files = model.locator(".model-files").get_by_role("link")
    await expect(files).to_have_text(["adapter_config.json", "adapter_model.safetensors"])
    config_link = model.get_by_role("link", name="adapter_config.json")
    await expect(config_link).to_have_attribute(
        "href", f"/api/models/{model_id}/files/adapter_config.json"
    )
    async with page.expect_download() as download_info:
        await config_link.click()
    download = await download_info.value
    assert download.suggested_filename == "adapter_config.json"
    saved = await download.path()
    adapter = ft.stack.settings.adapter_dir(job_id)
    assert saved.read_bytes() == (adapter / "adapter_config.json").read_bytes()

    # Publish: the base model comes prefilled from the training's ollamaBaseModel.
    publish = model.get_by_role("form", name="Publish to Ollama")
    await expect(publish.get_by_label("Ollama base model", exact=True)).to_have_value(OLLAMA_BASE)
    await publish.get_by_role("button", name="Publish to Ollama").click()
    await expect(publish.locator(".publish-job .badge")).to_have_text("Completed")
    await expect(publish.get_by_role("status")).to_have_text(
        f"Published to Ollama as {model_name}."
    )
    await expect(model.get_by_role("link", name="View the publish job")).to_have_attribute(
        "href", re.compile(r"^/jobs/.+")
    )
    await expect(model).to_contain_text(f"Ollama model {model_name}")
    created = ft.fakes.ollama.models[model_name]
    assert created.parent.startswith(OLLAMA_BASE)
    assert set(created.adapters) == {"adapter_config.json", "adapter_model.safetensors"}

    # The publish job's page links the adapter it published and the Ollama model it made.
    await model.get_by_role("link", name="View the publish job").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Publish {model_name} to Ollama"
    )
    await expect(page.get_by_role("link", name="the adapter's model")).to_have_attribute(
        "href", f"/fine-tuning/models/{model_id}"
    )
    await expect(page.get_by_role("link", name="the Ollama model")).to_be_visible()


async def test_publishing_with_no_base_model_known_shows_why(
    ft_page: Page, ft: FineTuneStack, tiny_base: Path, allowed_console: list[str]
) -> None:
    page = ft_page
    allowed_console.append("422")  # the refused publish, as the browser logs it
    dataset = await upload_dataset(ft.api, chat_jsonl(chat_examples(8)), "tiny.jsonl")
    body = {
        "name": "no ollama base",
        "provider": "local",
        "datasetId": dataset,
        "baseModel": BASE,
        "training": {"batchSize": 4, "device": "cpu"},
    }
    response = await ft.api.post("/api/fine-tuning/jobs", json=body)
    assert response.status_code == 201, response.text
    job = await wait_for_job(ft.api, response.json()["jobId"], within=60)
    assert job["status"] == "completed", job
    model = (await ft.api.get(f"/api/models/{job['result']['modelId']}")).json()

    await open_fine_tuning(page)
    models = page.get_by_role("region", name="Models")
    await models.get_by_role("link", name=model["name"]).click()
    await expect(page.get_by_role("heading", level=1, name=model["name"])).to_be_visible()
    adapter = page.get_by_role("region", name="LoRA adapter")
    base = adapter.get_by_label("Ollama base model", exact=True)
    await expect(base).to_have_value("")
    await adapter.get_by_role("button", name="Publish to Ollama").click()
    await expect(adapter.get_by_role("alert")).to_contain_text("baseModel is required")
    await expect(adapter.locator(".publish-job")).to_be_hidden()
    publishes = await ft.api.get("/api/jobs", params={"type": "model-publish"})
    assert publishes.json()["data"] == [], publishes.text  # nothing was created


async def test_local_training_is_offered_only_where_a_worker_can_train(
    browser: Browser,
    stack: Stack,
    tenant: Tenant,
    allowed_console: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A deployment whose training queue no worker polls, and whose API lacks the extra.
    monkeypatch.setattr(available, "missing_modules", lambda: ["torch"])
    async with open_stack(stack, workers=False, task_queue=f"idle-{uuid.uuid4().hex[:8]}") as idle:
        server = Server(idle.app_transport.app)  # type: ignore[arg-type]
        await server.start()
        try:
            async with signed_in_page(browser, server, tenant.account.key, allowed_console) as page:
                await open_fine_tuning(page)
                form = page.get_by_role("form", name="Start a fine-tune")
                await expect(form.get_by_label("Local LoRA")).to_be_disabled()
                provider = form.locator(".ft-provider").filter(has_text="Local LoRA")
                await expect(provider).to_contain_text("Local LoRA (not configured)")
                await expect(provider).to_contain_text("pip install 'jobdeck[training]'")
                await expect(form.get_by_role("group", name="Training")).to_have_count(0)
        finally:
            await server.stop()
