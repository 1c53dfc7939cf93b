"""The fine-tuning job on Ollama (which customizes rather than trains), against the fake
Ollama server: pull with byte progress, create with the dataset's system prompt and
few-shot examples, the model record, and an error line that fails the job."""

from __future__ import annotations

from tests.fine_tuning.checks import assert_progress_never_goes_back, progress_reports
from tests.fine_tuning.conftest import FineTuneStack, chat_jsonl, upload_dataset
from tests.helpers import events_of, wait_for_job
from tests.workflows.test_replay import record_history


async def _start(ft: FineTuneStack, **extra: object) -> dict[str, object]:
    dataset = await upload_dataset(ft.api, chat_jsonl())
    body = {
        "name": "pirate",
        "datasetId": dataset,
        "baseModel": "llama3.2:1b",
        "provider": "ollama",
        "suffix": "pirate",
        **extra,
    }
    response = await ft.api.post("/api/fine-tuning/jobs", json=body)
    assert response.status_code == 201, response.text
    return {**response.json(), "datasetId": dataset}


async def test_ollama_pulls_and_creates_a_customized_model(ft: FineTuneStack) -> None:
    record = await _start(ft, parameters={"temperature": 0.2})
    job = await wait_for_job(ft.api, str(record["jobId"]), within=60)
    assert job["status"] == "completed", job
    name = job["result"]["fineTunedModel"]
    assert name == f"llama3.2-pirate:{str(record['jobId'])[:8]}"
    created = ft.fakes.ollama.models[name]
    assert created.parent.startswith("llama3.2:1b")
    assert created.system == "You answer like a pirate."
    assert len(created.messages) == 16  # 8 user/assistant pairs from the dataset
    assert created.messages[0] == {"role": "user", "content": "What is 0 plus 0?"}
    assert created.parameters == {"temperature": 0.2}
    tags = (await ft.api.get("/api/fine-tuning/providers")).json()
    ollama = next(p for p in tags if p["name"] == "ollama")
    assert name in ollama["baseModels"]
    model = (await ft.api.get(f"/api/models/{job['result']['modelId']}")).json()
    assert (model["provider"], model["baseModel"], model["datasetId"]) == (
        "ollama",
        "llama3.2:1b",
        record["datasetId"],
    )
    assert model["details"]["fewShotExamples"] == 8 and model["details"]["system"] is True
    messages = [
        e["data"]["message"]
        for e in await events_of(ft.api, str(record["jobId"]))
        if e["kind"] == "message"
    ]
    assert "success" in messages
    assert job["progress"]["stage"] == "creating"
    done = (await ft.api.get(f"/api/fine-tuning/jobs/{record['id']}")).json()
    assert done["status"] == "succeeded" and done["fineTunedModel"] == name
    await record_history(ft.stack, str(record["jobId"]), "fine-tuning-ollama-completed")


async def test_an_error_line_fails_the_job_with_ollamas_words(ft: FineTuneStack) -> None:
    ft.fakes.ollama.fail_stream("create", after_lines=1, error="invalid model parameters")
    record = await _start(ft)
    job = await wait_for_job(ft.api, str(record["jobId"]), within=60)
    assert job["status"] == "failed"
    assert job["error"] == {
        "type": "OllamaError",
        "message": "Ollama: invalid model parameters",
        "details": None,
    }
    done = (await ft.api.get(f"/api/fine-tuning/jobs/{record['id']}")).json()
    assert done["status"] == "failed" and done["finishedAt"]
    assert done["error"]["message"] == "Ollama: invalid model parameters"
    await record_history(ft.stack, str(record["jobId"]), "fine-tuning-ollama-failed")


async def test_a_pull_error_ends_the_record_with_the_job(ft: FineTuneStack) -> None:
    ft.fakes.ollama.fail_stream("pull", after_lines=3, error="max retries exceeded: EOF")
    record = await _start(ft)
    job = await wait_for_job(ft.api, str(record["jobId"]), within=60)
    assert job["status"] == "failed"
    assert job["error"]["message"] == "Ollama: max retries exceeded: EOF"
    done = (await ft.api.get(f"/api/fine-tuning/jobs/{record['id']}")).json()
    assert done["status"] == "failed" and done["finishedAt"]
    assert done["error"] == job["error"]
    await record_history(ft.stack, str(record["jobId"]), "fine-tuning-ollama-pull-failed")


async def test_a_cancelled_build_ends_the_record_cancelled(ft: FineTuneStack) -> None:
    ft.fakes.ollama.slow_stream(0.2)
    record = await _start(ft)
    job_id = str(record["jobId"])
    await wait_for_job(
        ft.api, job_id, lambda j: (j["progress"] or {}).get("stage") == "pulling", within=60
    )
    assert (await ft.api.patch(f"/api/jobs/{job_id}/cancel")).status_code == 202
    job = await wait_for_job(ft.api, job_id, within=30)
    assert job["status"] == "cancelled"
    done = (await ft.api.get(f"/api/fine-tuning/jobs/{record['id']}")).json()
    assert done["status"] == "cancelled" and done["finishedAt"] and done["error"] is None
    await record_history(ft.stack, job_id, "fine-tuning-ollama-cancelled")


async def test_pull_progress_adds_up_the_layers_and_never_goes_back(ft: FineTuneStack) -> None:
    """Ollama reports each layer from 0 to its size: the job shows the bytes of all the
    layers so far, so the count only grows and ends at the model's size."""
    ft.fakes.ollama.slow_stream(0.03)  # most lines are written (one per 50 ms at most)
    size = sum(size for _, size in ft.fakes.ollama.state.library["llama3.2:1b"].layers)
    record = await _start(ft)
    job = await wait_for_job(ft.api, str(record["jobId"]), within=60)
    assert job["status"] == "completed", job
    reports = progress_reports(await events_of(ft.api, str(record["jobId"])))
    pulling = [r for r in reports if r["stage"] == "pulling"]
    assert len(pulling) > 3, reports
    assert all(r["unit"] == "bytes" for r in reports)
    assert_progress_never_goes_back(reports)
    percents = [r["percent"] for r in pulling if r["percent"] is not None]
    assert percents == sorted(percents), percents
    assert job["progress"]["current"] == job["progress"]["total"] == size
