"""The fine-tuning job on OpenAI's API (the real SDK against the fake server): completion
with a model record and loss history, provider failures, throttling and outages, cancel
at the provider, a create whose reply was lost, and secrets that never leak."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobdeck.devserver import temporal_binary
from tests.fakes.serving import Switchable
from tests.fine_tuning.checks import (
    assert_progress_never_goes_back,
    history_text,
    progress_reports,
)
from tests.fine_tuning.conftest import (
    SENTINEL_KEY,
    FineTuneStack,
    chat_jsonl,
    start_fine_tune,
    upload_dataset,
)
from tests.helpers import events_of, wait_for_job
from tests.workflows.test_replay import record_history


async def test_a_fine_tune_completes_with_a_model_and_its_loss_history(
    ft: FineTuneStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dataset = await upload_dataset(ft.api, chat_jsonl())
    record = await start_fine_tune(ft.api, dataset, suffix="pirate", hyperparameters={"nEpochs": 2})
    assert record["status"] == "pending" and record["jobId"] == record["id"]
    job = await wait_for_job(ft.api, record["jobId"], within=60)
    assert job["status"] == "completed", job
    done = (await ft.api.get(f"/api/fine-tuning/jobs/{record['id']}")).json()
    assert done["status"] == "succeeded"
    assert done["fineTunedModel"].startswith("ft:gpt-4o-mini-2024-07-18:")
    assert done["fineTunedModel"].split(":")[3] == "pirate"
    assert [m["step"] for m in done["metrics"]] == list(range(1, 21))
    assert all("trainLoss" in m["values"] for m in done["metrics"])
    assert done["providerJobId"].startswith("ftjob-")
    assert done["trainedTokens"] and done["checkpoints"]
    model = (await ft.api.get(f"/api/models/{done['modelId']}")).json()
    assert model["name"] == done["fineTunedModel"]
    assert (model["datasetId"], model["jobId"], model["baseModel"]) == (
        dataset,
        record["jobId"],
        "gpt-4o-mini-2024-07-18",
    )
    assert job["progress"]["current"] == job["progress"]["total"] == 20
    assert job["result"]["modelId"] == model["id"]
    events = await events_of(ft.api, record["jobId"])
    kinds = {e["kind"] for e in events}
    assert {"metric", "message"} <= kinds
    # One create and one upload, however the polling went.
    assert len(ft.fakes.openai.jobs) == 1 and ft.fakes.openai.calls["files.create"] == 1

    # The provider key is nowhere: not in the workflow history, events, responses or logs.
    env_address = ft.stack.runtime.temporal.service_client.config.target_host
    show = await asyncio.create_subprocess_exec(
        temporal_binary(),
        "workflow",
        "show",
        "--address",
        env_address,
        "-w",
        record["jobId"],
        "-o",
        "json",
        stdout=asyncio.subprocess.PIPE,
    )
    shown = (await asyncio.wait_for(show.communicate(), 30))[0].decode()
    assert show.returncode == 0
    assert record["jobId"] in shown
    assert SENTINEL_KEY not in shown
    assert SENTINEL_KEY not in json.dumps(events)
    assert SENTINEL_KEY not in json.dumps(done)
    assert SENTINEL_KEY not in caplog.text
    await record_history(ft.stack, record["jobId"], "fine-tuning-openai-completed")


async def test_a_provider_failure_fails_the_job_with_its_message(ft: FineTuneStack) -> None:
    ft.fakes.openai.fail_next_job(
        code="invalid_training_file", message="The training file has an invalid example on line 3."
    )
    record = await start_fine_tune(ft.api, await upload_dataset(ft.api, chat_jsonl()))
    job = await wait_for_job(ft.api, record["jobId"], within=60)
    assert job["status"] == "failed"
    assert job["error"]["type"] == "ProviderJobFailed"
    assert job["error"]["message"] == "The training file has an invalid example on line 3."
    done = (await ft.api.get(f"/api/fine-tuning/jobs/{record['id']}")).json()
    assert done["status"] == "failed" and done["error"]["code"] == "invalid_training_file"
    assert done["providerStatus"] == "failed" and done["finishedAt"]
    await record_history(ft.stack, record["jobId"], "fine-tuning-openai-failed")


async def test_throttling_and_outages_are_survived_without_a_second_job(
    ft: FineTuneStack,
) -> None:
    ft.fakes.openai.rate_limit("jobs.create", times=2, retry_after=0.01)
    ft.fakes.openai.server_error("jobs.retrieve", times=2, retry_after=0.01)
    record = await start_fine_tune(ft.api, await upload_dataset(ft.api, chat_jsonl()))
    job = await wait_for_job(ft.api, record["jobId"], within=90)
    assert job["status"] == "completed", job
    assert ft.fakes.openai.faulted["jobs.create"] == 2
    assert ft.fakes.openai.faulted["jobs.retrieve"] == 2
    assert len(ft.fakes.openai.jobs) == 1
    retried = [e for e in await events_of(ft.api, record["jobId"]) if e["kind"] == "attempt_failed"]
    # Each outage is a visible, retried attempt; the 429s were waited out within their
    # calls (the provider budget's transport), so they failed no attempt.
    assert [e["data"]["error"]["type"] for e in retried] == ["OpenAI500", "OpenAI500"]


class LostReply:
    """Lets the fake create the job, then holds the reply past the client's timeout, once:
    the provider job exists, the activity attempt fails."""

    def __init__(self, app: ASGIApp, hold_s: float) -> None:
        self.app, self.hold_s, self.armed = app, hold_s, True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hit = (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].endswith("/fine_tuning/jobs")
        )
        if not (hit and self.armed):
            await self.app(scope, receive, send)
            return
        self.armed = False
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        await asyncio.sleep(self.hold_s)
        for message in held:
            with contextlib.suppress(Exception):  # the client is gone
                await send(message)


async def test_a_create_whose_reply_is_lost_is_not_made_twice(
    ft: FineTuneStack, fake_servers: tuple[Switchable, str, Switchable, str]
) -> None:
    switch = fake_servers[0]
    assert switch.app is not None
    switch.app = LostReply(switch.app, hold_s=ft.stack.settings.provider_timeout_s + 1)
    record = await start_fine_tune(ft.api, await upload_dataset(ft.api, chat_jsonl()))
    job = await wait_for_job(ft.api, record["jobId"], within=90)
    assert job["status"] == "completed", job
    assert ft.fakes.openai.calls["jobs.create"] == 1  # the retry found it by its key
    assert len(ft.fakes.openai.jobs) == 1
    failed = [e for e in await events_of(ft.api, record["jobId"]) if e["kind"] == "attempt_failed"]
    assert [e["data"]["error"]["type"] for e in failed] == ["OpenAIUnavailable"]


async def test_cancel_reaches_the_provider_once(ft: FineTuneStack) -> None:
    ft.fakes.clock.set_speed(5.0)  # slow enough to catch it training
    record = await start_fine_tune(ft.api, await upload_dataset(ft.api, chat_jsonl()))
    await wait_for_job(
        ft.api,
        record["jobId"],
        lambda j: (j["progress"] or {}).get("stage") == "training",
        within=60,
    )
    response = await ft.api.patch(f"/api/jobs/{record['jobId']}/cancel")
    assert response.status_code == 202
    job = await wait_for_job(ft.api, record["jobId"], within=30)
    assert job["status"] == "cancelled"
    assert ft.fakes.openai.calls["jobs.cancel"] == 1
    [provider_job] = ft.fakes.openai.jobs
    assert provider_job.status == "cancelled"
    done = (await ft.api.get(f"/api/fine-tuning/jobs/{record['id']}")).json()
    assert done["status"] == "cancelled"
    # The record says how the provider job ended, not how it was when last polled.
    assert done["providerStatus"] == "cancelled" and done["finishedAt"]
    await record_history(ft.stack, record["jobId"], "fine-tuning-openai-cancelled")


async def test_a_blocked_organization_is_told_why_plainly(ft: FineTuneStack) -> None:
    ft.fakes.openai.block_fine_tuning()
    record = await start_fine_tune(ft.api, await upload_dataset(ft.api, chat_jsonl()))
    job = await wait_for_job(ft.api, record["jobId"], within=60)
    assert job["status"] == "failed"
    assert job["error"]["type"] == "OpenAI403"
    assert "OpenAI is closing self-serve fine-tuning to new jobs" in job["error"]["message"]
    assert len(ft.fakes.openai.jobs) == 0
    # The fine-tuning record ends with its job, with the same error.
    done = (await ft.api.get(f"/api/fine-tuning/jobs/{record['id']}")).json()
    assert done["status"] == "failed" and done["finishedAt"]
    assert done["error"]["type"] == "OpenAI403"
    assert done["error"]["message"] == job["error"]["message"]


async def test_data_the_provider_would_reject_is_never_sent(ft: FineTuneStack) -> None:
    record = await start_fine_tune(ft.api, await upload_dataset(ft.api, chat_jsonl(examples=3)))
    job = await wait_for_job(ft.api, record["jobId"], within=60)
    assert job["status"] == "failed"
    assert job["error"]["type"] == "InvalidDataset"
    # The reason is in the message, not only in the details.
    assert "the dataset has 3 examples; OpenAI needs at least 10" in job["error"]["message"]
    assert job["error"]["details"]["errors"] == {"too_few_examples": 1}
    assert ft.fakes.openai.calls["files.create"] == 0
    assert len(ft.fakes.openai.jobs) == 0
    done = (await ft.api.get(f"/api/fine-tuning/jobs/{record['id']}")).json()
    assert done["status"] == "failed" and done["finishedAt"]
    assert done["error"]["type"] == "InvalidDataset"
    assert done["error"]["message"] == job["error"]["message"]
    await record_history(ft.stack, record["jobId"], "fine-tuning-openai-invalid-dataset")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"datasetId": "nope"}, "dataset nope not found in your organization"),
        ({"baseModel": "gpt-9"}, "gpt-9"),
        ({"provider": "huggingface"}, "known providers: openai, ollama, local"),
        ({"hyperparameters": {"nEpochs": 0}}, "hyperparameters.nEpochs"),
    ],
)
async def test_bad_fine_tune_requests_are_refused(
    ft: FineTuneStack, body: dict[str, object], message: str
) -> None:
    dataset = await upload_dataset(ft.api, chat_jsonl())
    full = {
        "name": "x",
        "datasetId": dataset,
        "baseModel": "gpt-4o-mini",
        "provider": "openai",
        **body,
    }
    response = await ft.api.post("/api/fine-tuning/jobs", json=full)
    assert response.status_code == 422
    assert message in response.json()["detail"]
    assert (await ft.api.get("/api/fine-tuning/jobs")).json()["data"] == []


async def test_providers_are_listed_with_their_base_models(ft: FineTuneStack) -> None:
    providers = {p["name"]: p for p in (await ft.api.get("/api/fine-tuning/providers")).json()}
    assert providers["openai"]["configured"] is True
    assert "gpt-4o-mini-2024-07-18" in providers["openai"]["baseModels"]
    assert providers["ollama"]["configured"] is True
    assert "does not train" in providers["ollama"]["description"]


async def _poll_failures(ft: FineTuneStack, job_id: str) -> list[dict[str, object]]:
    return [
        e
        for e in await events_of(ft.api, job_id)
        if e["kind"] == "attempt_failed" and e["data"]["step"] == "fine-tuning.poll"
    ]


async def test_checkpoints_that_always_fail_do_not_hold_back_a_finished_fine_tune(
    ft: FineTuneStack,
) -> None:
    """The provider job succeeded, but its checkpoints cannot be listed: the model is
    recorded at once, and the job says what is missing."""
    ft.fakes.openai.server_error("jobs.checkpoints", times=10_000)
    record = await start_fine_tune(ft.api, await upload_dataset(ft.api, chat_jsonl()))
    job = await wait_for_job(ft.api, record["jobId"], within=20)
    assert job["status"] == "completed", job
    assert ft.fakes.openai.faulted["jobs.checkpoints"] >= 1
    done = (await ft.api.get(f"/api/fine-tuning/jobs/{record['id']}")).json()
    assert done["status"] == "succeeded" and done["modelId"] == job["result"]["modelId"]
    assert [m["step"] for m in done["metrics"]] == list(range(1, 21))
    assert done["checkpoints"] == []
    assert not await _poll_failures(ft, record["jobId"])
    warnings = [
        e["data"]["message"]
        for e in await events_of(ft.api, record["jobId"])
        if e["kind"] == "message" and e["data"].get("level") == "warning"
    ]
    assert any("checkpoints could not be fetched" in w for w in warnings), warnings
    assert job["progress"]["current"] == job["progress"]["total"] == 20
    await record_history(ft.stack, record["jobId"], "fine-tuning-openai-checkpoints-missing")


async def test_a_flaky_events_endpoint_neither_blocks_polls_nor_loses_metrics(
    ft: FineTuneStack,
) -> None:
    """Every other request for the job's events fails: polls go on with the job's status,
    and the events are fetched from where the last good fetch left off."""
    ft.fakes.clock.set_speed(50.0)  # a few polls per phase
    ft.fakes.openai.fail_every("jobs.list_events", 2)
    record = await start_fine_tune(ft.api, await upload_dataset(ft.api, chat_jsonl()))
    job = await wait_for_job(ft.api, record["jobId"], within=30)
    assert job["status"] == "completed", job
    assert ft.fakes.openai.faulted["jobs.list_events"] >= 1
    assert not await _poll_failures(ft, record["jobId"])
    done = (await ft.api.get(f"/api/fine-tuning/jobs/{record['id']}")).json()
    assert [m["step"] for m in done["metrics"]] == list(range(1, 21))
    assert done["checkpoints"]
    messages = [
        e["data"]["message"]
        for e in await events_of(ft.api, record["jobId"])
        if e["kind"] == "message" and e["data"].get("source") == "provider"
    ]
    assert messages.count("The job has successfully completed") == 1, messages
    assert len(messages) == len(set(messages))


async def test_progress_counts_steps_and_never_goes_back(ft: FineTuneStack) -> None:
    """While the provider validates and queues there is no step yet: the job shows none
    (not the byte count of the dataset check before), then steps 1..20 of 20."""
    ft.fakes.clock.set_speed(10.0)  # polls see the provider validate and queue
    record = await start_fine_tune(ft.api, await upload_dataset(ft.api, chat_jsonl()))
    job = await wait_for_job(ft.api, record["jobId"], within=60)
    assert job["status"] == "completed", job
    reports = progress_reports(await events_of(ft.api, record["jobId"]))
    assert_progress_never_goes_back(reports)
    steps = [r for r in reports if r["unit"] == "steps"]
    waiting = [r for r in steps if r["stage"] in ("validating", "queued")]
    assert waiting, reports
    assert all(r["current"] == 0 and r["percent"] in (None, 0) for r in waiting), waiting
    assert all(r["total"] in (None, 20) for r in steps), steps
    assert all(r["current"] <= 20 for r in steps), steps
    assert [r["unit"] for r in reports if r["stage"] == "training"] and all(
        r["unit"] == "steps" for r in reports if r["stage"] == "training"
    )
    assert job["progress"]["current"] == job["progress"]["total"] == 20


async def test_a_key_echoed_by_the_provider_is_redacted_everywhere(
    ft: FineTuneStack, caplog: pytest.LogCaptureFixture
) -> None:
    """A provider (or proxy) that quotes the Authorization header in its error body: once
    in a 500 (retried), once in a 400 (the job fails with it). The key is nowhere: not in
    the jobs, their events, the fine-tuning records, the workflow histories or the logs."""
    caplog.set_level(logging.DEBUG)
    dataset = await upload_dataset(ft.api, chat_jsonl())

    ft.fakes.openai.echo_authorization("jobs.retrieve", 500, times=1)
    retried = await start_fine_tune(ft.api, dataset)
    retried_job = await wait_for_job(ft.api, retried["jobId"], within=60)
    assert retried_job["status"] == "completed", retried_job

    ft.fakes.openai.echo_authorization("jobs.create", 400, times=1)
    refused = await start_fine_tune(ft.api, dataset)
    refused_job = await wait_for_job(ft.api, refused["jobId"], within=60)
    assert refused_job["status"] == "failed", refused_job
    assert refused_job["error"]["type"] == "OpenAI400"
    # The provider's words are kept, the key is not.
    assert "authorization: Bearer [redacted]" in refused_job["error"]["message"]

    failed_tries = [
        e for e in await events_of(ft.api, retried["jobId"]) if e["kind"] == "attempt_failed"
    ]
    assert [e["data"]["error"]["type"] for e in failed_tries] == ["OpenAI500"]
    assert "Bearer [redacted]" in failed_tries[0]["data"]["error"]["message"]

    for record, job in ((retried, retried_job), (refused, refused_job)):
        events = await events_of(ft.api, record["jobId"])
        done = (await ft.api.get(f"/api/fine-tuning/jobs/{record['id']}")).json()
        listed = (await ft.api.get("/api/jobs")).json()
        history = await history_text(ft.stack, record["jobId"])
        assert record["jobId"] in history
        for where, text in (
            ("job", json.dumps(job)),
            ("events", json.dumps(events)),
            ("record", json.dumps(done)),
            ("job list", json.dumps(listed)),
            ("history", history),
        ):
            assert SENTINEL_KEY not in text, where
    assert "Bearer [redacted]" in caplog.text  # the failures were logged...
    assert SENTINEL_KEY not in caplog.text  # ...without the key
