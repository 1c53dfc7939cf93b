"""Local LoRA fine-tuning as a job, on the real Temporal dev server, a tiny real model on
the CPU and the fake Ollama: it trains and leaves an adapter and a model, publishes to
Ollama, cancels within a step keeping its checkpoints, waits pending for a training slot,
and turns each bad input into a clear error."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file
from temporalio.client import Client

from jobdeck.training import available
from jobdeck.training.loop import load_adapted
from tests.conftest import Stack, Tenant, new_tenant, open_stack
from tests.fine_tuning.conftest import FineTuneStack, upload_dataset
from tests.helpers import events_of, wait_for_job
from tests.proxy import FreezingProxy
from tests.training.tiny_model import BASE, chat_examples, chat_jsonl
from tests.workflows.test_replay import record_history


async def _train(
    ft: FineTuneStack, *, examples: int = 32, expect: int = 201, **training: Any
) -> dict[str, Any]:
    dataset = await upload_dataset(ft.api, chat_jsonl(chat_examples(examples)), "chat.jsonl")
    body = {
        "name": "tiny",
        "provider": "local",
        "datasetId": dataset,
        "baseModel": BASE,
        "suffix": "qa",
        "training": {
            "batchSize": 4,
            "learningRate": 5e-3,
            "checkpointEvery": 4,
            "logEvery": 2,
            "device": "cpu",
            **training,
        },
    }
    response = await ft.api.post("/api/fine-tuning/jobs", json=body)
    assert response.status_code == expect, response.text
    record: dict[str, Any] = {**response.json(), "datasetId": dataset}
    return record


async def test_a_local_fine_tune_trains_leaves_an_adapter_and_publishes_to_ollama(
    ft: FineTuneStack, tiny_base: Path
) -> None:
    record = await _train(ft, epochs=2, ollamaBaseModel="llama3.2:1b")
    job_id = record["jobId"]
    job = await wait_for_job(ft.api, job_id, within=90)
    assert job["status"] == "completed", job
    assert job["type"] == "model-training"
    result = job["result"]
    assert result["steps"] == result["totalSteps"] == 16  # 32 examples / 4, two epochs
    assert result["resumedFromStep"] == 0 and result["trainedTokens"] > 0
    assert job["progress"]["unit"] == "steps" and job["progress"]["current"] == 16
    assert job["progress"]["stage"] == "trained"

    events = await events_of(ft.api, job_id)
    kinds = [e["kind"] for e in events]
    assert kinds.count("started") == 1 and kinds[-1] == "completed"
    steps = [e["data"]["job"]["progress"]["current"] for e in events if e["kind"] == "progress"]
    assert steps == sorted(steps) and steps[-1] == 16
    points = [p for e in events if e["kind"] == "metric" for p in e["data"]["metrics"]]
    assert [p["step"] for p in points] == list(range(2, 17, 2))
    assert points[-1]["trainLoss"] < points[0]["trainLoss"]

    fine_tune = (await ft.api.get(f"/api/fine-tuning/jobs/{job_id}")).json()
    assert (fine_tune["provider"], fine_tune["status"]) == ("local", "succeeded")
    assert [m["step"] for m in fine_tune["metrics"]] == [p["step"] for p in points]
    assert [c["step"] for c in fine_tune["checkpoints"]] == [8, 12]  # the newest two

    model = (await ft.api.get(f"/api/models/{result['modelId']}")).json()
    assert (model["provider"], model["baseModel"], model["datasetId"], model["jobId"]) == (
        "local",
        BASE,
        record["datasetId"],
        job_id,
    )
    assert model["name"] == f"tiny-llama-qa:{job_id[:8]}"
    weights_url = f"/api/models/{model['id']}/files/adapter_model.safetensors"
    assert weights_url in model["files"]
    download = await ft.api.get(weights_url)
    assert download.status_code == 200
    adapter = ft.stack.settings.adapter_dir(job_id)
    assert download.content == (adapter / "adapter_model.safetensors").read_bytes()
    assert load_file(str(adapter / "adapter_model.safetensors"))  # real safetensors
    assert load_adapted(str(tiny_base), adapter) is not None  # and it fits the base model
    missing = await ft.api.get(f"/api/models/{model['id']}/files/trainer_state.pt")
    assert missing.status_code == 404

    published = await ft.api.post(f"/api/models/{model['id']}/publish", json={})
    assert published.status_code == 202, published.text
    publish_job = await wait_for_job(ft.api, published.json()["id"], within=60)
    assert publish_job["status"] == "completed", publish_job
    name = publish_job["result"]["ollamaModel"]
    created = ft.fakes.ollama.models[f"{model['name']}"]
    assert created.parent.startswith("llama3.2:1b") and name == model["name"]
    assert set(created.adapters) == {"adapter_config.json", "adapter_model.safetensors"}
    blob = ft.fakes.ollama.blobs[created.adapters["adapter_model.safetensors"]]
    assert blob == (adapter / "adapter_model.safetensors").read_bytes()
    ollama_model = (await ft.api.get(f"/api/models/{publish_job['result']['modelId']}")).json()
    assert ollama_model["provider"] == "ollama"
    assert ollama_model["details"]["adapterOf"] == model["id"]
    source = (await ft.api.get(f"/api/models/{model['id']}")).json()
    assert source["details"]["published"] == [{"ollama": name, "modelId": ollama_model["id"]}]
    await record_history(ft.stack, job_id, "model-training-completed")
    await record_history(ft.stack, publish_job["id"], "model-publish-completed")


async def test_validation_loss_is_reported_with_a_validation_set(
    ft: FineTuneStack, tiny_base: Path
) -> None:
    validation = await upload_dataset(ft.api, chat_jsonl(chat_examples(8, seed=99)), "v.jsonl")
    dataset = await upload_dataset(ft.api, chat_jsonl(chat_examples(16)), "t.jsonl")
    body = {
        "name": "with validation",
        "provider": "local",
        "datasetId": dataset,
        "validationDatasetId": validation,
        "baseModel": BASE,
        "training": {"batchSize": 4, "checkpointEvery": 2, "logEvery": 1, "device": "cpu"},
    }
    response = await ft.api.post("/api/fine-tuning/jobs", json=body)
    assert response.status_code == 201, response.text
    job = await wait_for_job(ft.api, response.json()["jobId"], within=60)
    assert job["status"] == "completed", job
    fine_tune = (await ft.api.get(f"/api/fine-tuning/jobs/{job['id']}")).json()
    valid = [m for m in fine_tune["metrics"] if "validLoss" in m["values"]]
    assert [m["step"] for m in valid] == [2, 4]
    assert job["result"]["validLoss"] == pytest.approx(valid[-1]["values"]["validLoss"])


async def test_cancel_stops_within_a_step_and_keeps_the_checkpoints(
    ft: FineTuneStack, tiny_base: Path
) -> None:
    record = await _train(ft, examples=64, epochs=100, checkpointEvery=5)
    job_id = record["jobId"]
    await wait_for_job(
        ft.api, job_id, lambda j: (j["progress"] or {}).get("current", 0) >= 12, within=60
    )
    response = await ft.api.patch(f"/api/jobs/{job_id}/cancel")
    assert response.status_code == 202, response.text
    job = await wait_for_job(ft.api, job_id, within=15)
    assert job["status"] == "cancelled", job
    assert job["progress"]["current"] < job["progress"]["total"] == 1600
    checkpoints = ft.stack.settings.training_root / job_id / "checkpoints"
    kept = sorted(p.name for p in checkpoints.iterdir())
    assert kept and all(name.startswith("step-") for name in kept)
    assert not ft.stack.settings.adapter_dir(job_id).exists()
    fine_tune = (await ft.api.get(f"/api/fine-tuning/jobs/{job_id}")).json()
    assert fine_tune["status"] == "cancelled" and fine_tune["finishedAt"]
    last = job["progress"]["current"]
    await asyncio.sleep(1.5)  # the activity is over: no step is taken after the cancel
    after = (await ft.api.get(f"/api/jobs/{job_id}")).json()
    assert after["progress"]["current"] == last and after["status"] == "cancelled"
    await record_history(ft.stack, job_id, "model-training-cancelled")


async def test_a_second_training_waits_pending_for_the_slot(
    ft: FineTuneStack, tiny_base: Path
) -> None:
    first = await _train(ft, epochs=15)
    await wait_for_job(ft.api, first["jobId"], lambda j: j["status"] == "active", within=30)
    second = await _train(ft, epochs=1)
    await asyncio.sleep(1.0)
    waiting = (await ft.api.get(f"/api/jobs/{second['jobId']}")).json()
    running = (await ft.api.get(f"/api/jobs/{first['jobId']}")).json()
    if running["status"] == "active":  # one training slot: the second one waits
        assert waiting["status"] == "pending" and waiting["startedAt"] is None
        fine_tune = (await ft.api.get(f"/api/fine-tuning/jobs/{second['jobId']}")).json()
        assert fine_tune["status"] == "queued"
    done_first = await wait_for_job(ft.api, first["jobId"], within=90)
    done_second = await wait_for_job(ft.api, second["jobId"], within=90)
    assert done_first["status"] == done_second["status"] == "completed"
    # The slot frees when the first training's last step and adapter are written.
    assert done_second["startedAt"] >= max(
        e["createdAt"]
        for e in await events_of(ft.api, first["jobId"])
        if e["kind"] in ("progress", "metric")
    )


async def test_bad_training_input_gets_a_clear_error(ft: FineTuneStack, tiny_base: Path) -> None:
    dataset = await upload_dataset(ft.api, chat_jsonl(chat_examples(8)), "chat.jsonl")
    base = {"name": "bad", "provider": "local", "datasetId": dataset, "baseModel": BASE}
    cases = [
        ({"training": {"lora": {"rank": 0}}}, "training.lora.rank"),
        ({"training": {"device": "tpu"}}, "device"),
        ({"baseModel": "../../etc"}, "data.baseModel: Value error, a base model path may not"),
        ({"training": {"epochs": 0}}, "epochs"),
        ({"provider": "ollama", "training": {"epochs": 1}}, "local provider only"),
    ]
    before = len((await ft.api.get("/api/jobs", params={"type": "model-training"})).json()["data"])
    for change, message in cases:
        response = await ft.api.post("/api/fine-tuning/jobs", json={**base, **change})
        assert response.status_code in (400, 422), (change, response.text)
        assert message in response.text, (change, response.text)
    direct = await ft.api.post(
        "/api/jobs",
        json={
            "type": "model-training",
            "name": "bad",
            "data": {"datasetId": dataset, "baseModel": BASE, "lora": {"dropout": 1.5}},
        },
    )
    assert direct.status_code == 422 and "data.lora.dropout" in direct.text, direct.text
    after = len((await ft.api.get("/api/jobs", params={"type": "model-training"})).json()["data"])
    assert after == before  # nothing was created


@pytest.mark.parametrize(
    ("content", "base_model", "error_type", "message"),
    [
        (
            b'{"messages": [{"role": "user", "content": "hi"}]}\n',
            BASE,
            "InvalidTrainingData",
            "dataset line 1 has no assistant message",
        ),
        (chat_jsonl(chat_examples(4)), "no-such-model", "TrainingSetupError", "base-models"),
        (
            chat_jsonl(chat_examples(4)),
            "/etc",
            "BaseModelNotAllowed",
            "outside the base-models directory",
        ),
    ],
)
async def test_a_job_that_cannot_train_fails_with_a_message(
    ft: FineTuneStack,
    tiny_base: Path,
    content: bytes,
    base_model: str,
    error_type: str,
    message: str,
) -> None:
    dataset = await upload_dataset(ft.api, content, "data.jsonl")
    body = {"name": "x", "provider": "local", "datasetId": dataset, "baseModel": base_model}
    response = await ft.api.post("/api/fine-tuning/jobs", json=body)
    assert response.status_code == 201, response.text
    job = await wait_for_job(ft.api, response.json()["jobId"], within=60)
    assert job["status"] == "failed" and job["error"]["type"] == error_type, job
    assert message in job["error"]["message"]
    assert job["attempts"] == 1  # a real error is not retried
    fine_tune = (await ft.api.get(f"/api/fine-tuning/jobs/{job['id']}")).json()
    assert fine_tune["status"] == "failed" and fine_tune["error"]["type"] == error_type


async def test_publishing_refuses_what_it_cannot_publish(
    ft: FineTuneStack, tiny_base: Path
) -> None:
    record = await _train(ft, examples=8, epochs=1)
    job = await wait_for_job(ft.api, record["jobId"], within=60)
    model_id = job["result"]["modelId"]
    no_base = await ft.api.post(f"/api/models/{model_id}/publish", json={})
    assert no_base.status_code == 422 and "baseModel is required" in no_base.text
    unknown_key = await ft.api.post(f"/api/models/{model_id}/publish", json={"base": "x"})
    assert unknown_key.status_code == 422
    stranger = await new_tenant(ft.stack)
    async with ft.stack.client(stranger.key) as other:
        other_org = await other.post(
            f"/api/models/{model_id}/publish", json={"baseModel": "llama3.2:1b"}
        )
        assert other_org.status_code == 404
        file = await other.get(f"/api/models/{model_id}/files/adapter_config.json")
        assert file.status_code == 404
    missing_base = await ft.api.post(
        f"/api/models/{model_id}/publish", json={"baseModel": "no-such-base:1b"}
    )
    assert missing_base.status_code == 202
    failed = await wait_for_job(ft.api, missing_base.json()["id"], within=60)
    assert failed["status"] == "failed" and "file does not exist" in failed["error"]["message"]


async def test_the_api_says_when_no_worker_can_train(
    stack: Stack, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A deployment whose training queue no worker polls, and whose API lacks the extra.
    monkeypatch.setattr(available, "missing_modules", lambda: ["torch"])
    async with (
        open_stack(stack, workers=False, task_queue=f"idle-{uuid.uuid4().hex[:8]}") as idle,
        idle.client(tenant.account.key) as api,
    ):
        dataset = await upload_dataset(api, chat_jsonl(chat_examples(4)), "chat.jsonl")
        body = {"name": "x", "provider": "local", "datasetId": dataset, "baseModel": BASE}
        response = await api.post("/api/fine-tuning/jobs", json=body)
        assert response.status_code == 422
        assert "pip install 'jobdeck[training]'" in response.json()["detail"]
        assert "lacks torch" in response.json()["detail"]
        providers = (await api.get("/api/fine-tuning/providers")).json()
        local = next(p for p in providers if p["name"] == "local")
        assert local["configured"] is False and "jobdeck[training]" in local["reason"]
        listed = (await api.get("/api/jobs", params={"type": "model-training"})).json()
        assert all(j["name"] != "x" or j["status"] != "pending" for j in listed["data"])


async def test_a_temporal_that_does_not_answer_gets_503_on_create_and_a_reason_in_the_list(
    stack: Stack, tenant: Tenant
) -> None:
    # Found by the fuzz test on a loaded machine: describe_task_queue timed out and the
    # providers list answered 500. A frozen proxy in front of Temporal hangs every call.
    target = stack.runtime.temporal.service_client.config.target_host
    host, port = target.rsplit(":", 1)
    async with FreezingProxy(host, int(port)).running() as proxy:
        temporal = await Client.connect(proxy.address, namespace=stack.runtime.temporal.namespace)
        async with (
            open_stack(
                stack, temporal=temporal, workers=False, temporal_call_timeout_s=2.0
            ) as frozen,
            frozen.client(tenant.account.key) as api,
        ):
            dataset = await upload_dataset(api, chat_jsonl(chat_examples(4)), "chat.jsonl")
            proxy.freeze()
            providers = (await api.get("/api/fine-tuning/providers")).json()
            local = next(p for p in providers if p["name"] == "local")
            assert local["configured"] is False
            assert "did not answer" in local["reason"] and "try again" in local["reason"]
            assert {"openai", "ollama"} <= {p["name"] for p in providers}  # listed all the same
            body = {"name": "x", "provider": "local", "datasetId": dataset, "baseModel": BASE}
            created = await api.post("/api/fine-tuning/jobs", json=body)
            assert created.status_code == 503, created.text
            assert "did not answer" in created.json()["detail"]
            proxy.thaw()
            listed = (await api.get("/api/fine-tuning/jobs")).json()
            assert listed["data"] == []  # nothing half-made by the refused create
