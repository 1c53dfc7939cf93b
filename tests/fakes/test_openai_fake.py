"""The fake OpenAI, driven by the real `openai` SDK over HTTP."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from typing import Any

import httpx
import openai
import pytest
from openai.types.fine_tuning import FineTuningJob

from tests.fakes.clock import FakeClock
from tests.fakes.conftest import API_KEY, OpenAIFake
from tests.fakes.openai_control import BLOCKED_MESSAGE
from tests.fakes.openai_jobs import ErrorForm, Timeline
from tests.fakes.serving import free_port

MODEL = "gpt-4o-mini-2024-07-18"


def jsonl(n: int) -> bytes:
    rows = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}
        for i in range(n)
    ]
    return "\n".join(json.dumps(row) for row in rows).encode() + b"\n"


async def upload(client: openai.AsyncOpenAI, n: int = 12, name: str = "train.jsonl") -> str:
    uploaded = await client.files.create(file=(name, jsonl(n)), purpose="fine-tune")
    return uploaded.id


async def start(client: openai.AsyncOpenAI, n: int = 12, **kwargs: Any) -> FineTuningJob:
    training_file = await upload(client, n)
    return await client.fine_tuning.jobs.create(model=MODEL, training_file=training_file, **kwargs)


def test_clock_is_frozen_settable_and_forward_only() -> None:
    clock = FakeClock(100.0)
    assert clock.now() == 100.0
    assert clock.advance(50) == 150.0
    clock.set(200.0)
    assert clock.timestamp() == 200
    with pytest.raises(ValueError):
        clock.set(10.0)
    with pytest.raises(ValueError):
        clock.advance(-1)
    fast = FakeClock(0.0, speed=1000.0)
    time.sleep(0.01)
    assert fast.now() >= 10.0


async def test_full_lifecycle(client: openai.AsyncOpenAI, fake: OpenAIFake) -> None:
    uploaded = await client.files.create(file=("train.jsonl", jsonl(12)), purpose="fine-tune")
    assert (uploaded.object, uploaded.purpose, uploaded.status) == (
        "file",
        "fine-tune",
        "processed",
    )
    assert uploaded.id.startswith("file-") and uploaded.bytes == len(jsonl(12))
    assert (await client.files.retrieve(uploaded.id)).filename == "train.jsonl"

    job = await client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=uploaded.id,
        suffix="demo",
        seed=7,
        metadata={"jobdeck_job_id": "job-1"},
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
    )
    assert job.id.startswith("ftjob-") and job.object == "fine_tuning.job"
    assert job.status == "validating_files" and job.fine_tuned_model is None
    assert job.hyperparameters.n_epochs == 2 and job.hyperparameters.batch_size == "auto"
    assert job.seed == 7 and job.metadata == {"jobdeck_job_id": "job-1"}
    assert job.model_extra and job.model_extra["user_provided_suffix"] == "demo"
    assert job.method and job.method.type == "supervised"

    fake.control.advance(5)
    assert (await client.fine_tuning.jobs.retrieve(job.id)).status == "queued"
    fake.control.advance(10)
    running = await client.fine_tuning.jobs.retrieve(job.id)
    assert running.status == "running"
    assert running.estimated_finish == job.created_at + 5 + 10 + 24 + 5  # 24 steps of 1 s
    assert running.hyperparameters.batch_size == 1  # "auto" resolved after validation

    fake.control.finish(job.id)
    done = await client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded" and done.estimated_finish is None
    assert done.finished_at == running.estimated_finish
    assert re.fullmatch(
        rf"ft:{MODEL}:jobdeck-fake:demo:[A-Za-z0-9]{{8}}", done.fine_tuned_model or ""
    )
    assert done.trained_tokens and done.trained_tokens > 0
    assert done.error and done.error.code is None  # the all-null form, even on success
    results = await client.files.retrieve(done.result_files[0])
    assert results.purpose == "fine-tune-results"
    content = await client.files.content(results.id)
    assert content.text.startswith("step,train_loss")

    checkpoints = await client.fine_tuning.jobs.checkpoints.list(job.id)
    steps = [c.step_number for c in checkpoints.data]
    assert steps == sorted(steps, reverse=True) and steps[0] == 24  # 2 epochs x 12 examples
    assert checkpoints.data[0].fine_tuned_model_checkpoint.endswith(":ckpt-step-24")
    assert checkpoints.data[0].metrics.train_loss is not None
    assert fake.control.calls["jobs.create"] == 1 and len(fake.control.jobs) == 1


async def test_a_two_hour_job_finishes_when_the_clock_says(
    client: openai.AsyncOpenAI, fake: OpenAIFake
) -> None:
    fake.control.timeline = Timeline(step_s=10, total_steps=720)
    job = await start(client)
    fake.control.advance(3600)
    halfway = await client.fine_tuning.jobs.retrieve(job.id)
    assert halfway.status == "running"
    latest = (await client.fine_tuning.jobs.list_events(job.id, limit=1)).data[0]
    assert latest.type == "metrics" and latest.data["step"] == 358  # type: ignore[index]
    fake.control.advance(3600 + 20)  # 720 steps x 10 s, after 15 s of validating and queueing
    assert (await client.fine_tuning.jobs.retrieve(job.id)).status == "succeeded"


async def test_events_newest_first_and_paged_with_after(
    client: openai.AsyncOpenAI, fake: OpenAIFake
) -> None:
    job = await start(client)
    fake.control.finish(job.id)
    everything = (await client.fine_tuning.jobs.list_events(job.id, limit=1000)).data
    assert everything[0].message == "The job has successfully completed"
    assert everything[-1].message == f"Created fine-tuning job: {job.id}"
    stamps = [event.created_at for event in everything]
    assert stamps == sorted(stamps, reverse=True)

    pages, after = [], None
    while True:
        kwargs = {"limit": 7} if after is None else {"limit": 7, "after": after}
        page = await client.fine_tuning.jobs.list_events(job.id, **kwargs)  # type: ignore[arg-type]
        pages.append(page.data)
        if not page.has_more:
            break
        after = page.data[-1].id
    assert [e.id for p in pages for e in p] == [e.id for e in everything]
    assert all(len(p) == 7 for p in pages[:-1])

    auto = [event.id async for event in client.fine_tuning.jobs.list_events(job.id, limit=5)]
    assert auto == [e.id for e in everything]  # the SDK's own paging follows has_more/after


async def test_metrics_events_carry_step_data(client: openai.AsyncOpenAI, fake: OpenAIFake) -> None:
    validation = await upload(client, 10, "valid.jsonl")
    job = await start(client, validation_file=validation)
    fake.control.advance(5 + 10 + 6.5)  # validating, queued, then 6 steps of 1 s
    metrics = [
        e for e in (await client.fine_tuning.jobs.list_events(job.id, limit=100)).data
        if e.type == "metrics"
    ]  # fmt: skip
    assert [e.data["step"] for e in metrics] == [6, 5, 4, 3, 2, 1]  # type: ignore[index]
    data = metrics[0].data
    assert isinstance(data, dict)
    assert set(data) >= {
        "step", "total_steps", "train_loss", "train_mean_token_accuracy",
        "valid_loss", "valid_mean_token_accuracy",
    }  # fmt: skip
    assert data["total_steps"] == 36  # auto: 3 epochs x 12 examples
    pattern = r"Step 6/36: training loss=\d+\.\d\d, validation loss=\d+\.\d\d"
    assert re.fullmatch(pattern, metrics[0].message)
    assert metrics[0].level == "info" and metrics[0].object == "fine_tuning.job.event"


async def test_429_is_seen_without_sdk_retries(fake: OpenAIFake) -> None:
    fake.control.rate_limit("jobs.create", times=1, retry_after=0.01)
    async with fake.client(max_retries=0) as client:
        training_file = await upload(client)
        with pytest.raises(openai.RateLimitError) as caught:
            await client.fine_tuning.jobs.create(model=MODEL, training_file=training_file)
        assert caught.value.status_code == 429
        assert caught.value.response.headers["retry-after"] == "1"
        assert caught.value.response.headers["retry-after-ms"] == "10"
        assert isinstance(caught.value.body, dict)
        assert caught.value.body["code"] == "rate_limit_exceeded"
        await client.fine_tuning.jobs.create(model=MODEL, training_file=training_file)
    assert fake.control.calls["jobs.create"] == 2 and fake.control.faulted["jobs.create"] == 1
    assert len(fake.control.jobs) == 1


async def test_429s_and_500s_are_survived_by_default_retries(
    client: openai.AsyncOpenAI, fake: OpenAIFake
) -> None:
    fake.control.rate_limit("jobs.create", times=2, retry_after=0.01)
    job = await start(client)
    assert fake.control.calls["jobs.create"] == 3 and len(fake.control.jobs) == 1
    fake.control.server_error("jobs.retrieve", times=1, retry_after=0.01)
    fake.control.server_error("jobs.retrieve", times=1, status=503, retry_after=0.01)
    assert (await client.fine_tuning.jobs.retrieve(job.id)).id == job.id
    assert fake.control.faulted["jobs.retrieve"] == 2
    fake.control.server_error("jobs.retrieve")
    async with fake.client(max_retries=0) as strict:
        with pytest.raises(openai.InternalServerError, match="The server had an error"):
            await strict.fine_tuning.jobs.retrieve(job.id)


async def test_slow_responses_time_out(client: openai.AsyncOpenAI, fake: OpenAIFake) -> None:
    job = await start(client)
    fake.control.slow(0.3, "jobs.retrieve", times=1)
    async with fake.client(max_retries=0, timeout=0.1) as impatient:
        with pytest.raises(openai.APITimeoutError):
            await impatient.fine_tuning.jobs.retrieve(job.id)
        await asyncio.sleep(0.3)  # let the slow request finish before the fake stops
        assert (await impatient.fine_tuning.jobs.retrieve(job.id)).id == job.id


async def test_blocked_organization_gets_403_on_create(
    client: openai.AsyncOpenAI, fake: OpenAIFake
) -> None:
    fake.control.block_fine_tuning()
    training_file = await upload(client)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        await client.fine_tuning.jobs.create(model=MODEL, training_file=training_file)
    assert caught.value.status_code == 403
    assert BLOCKED_MESSAGE in str(caught.value)
    assert isinstance(caught.value.body, dict) and caught.value.body["message"] == BLOCKED_MESSAGE
    assert fake.control.calls["jobs.create"] == 1  # 403 is not retried
    assert fake.control.jobs == []


async def test_too_few_examples_fail_validation(
    client: openai.AsyncOpenAI, fake: OpenAIFake
) -> None:
    job = await start(client, n=5)
    assert job.status == "validating_files"
    fake.control.advance(5)
    failed = await client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed" and failed.fine_tuned_model is None
    assert failed.error and failed.error.code == "invalid_n_examples"
    assert failed.error.param == "training_file" and "5 example(s)" in failed.error.message
    assert failed.finished_at == int(job.created_at + 5)
    latest = (await client.fine_tuning.jobs.list_events(job.id, limit=1)).data[0]
    assert latest.level == "error" and latest.message == failed.error.message


async def test_scripted_failure_mid_training(client: openai.AsyncOpenAI, fake: OpenAIFake) -> None:
    fake.control.fail_next_job(code="server_error", message="Boom at step 3", at_step=3)
    job = await start(client)
    fake.control.advance(3600)
    failed = await client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed" and failed.error and failed.error.message == "Boom at step 3"
    events = (await client.fine_tuning.jobs.list_events(job.id, limit=100)).data
    assert max(e.data["step"] for e in events if e.type == "metrics") == 2  # type: ignore[index]
    assert (await start(client)).status == "validating_files"  # only the next job fails


async def test_cancel(client: openai.AsyncOpenAI, fake: OpenAIFake) -> None:
    job = await start(client)
    fake.control.advance(20)
    cancelled = await client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    fake.control.advance(10_000)
    assert (await client.fine_tuning.jobs.retrieve(job.id)).status == "cancelled"
    with pytest.raises(openai.BadRequestError, match="cannot be cancelled"):
        await client.fine_tuning.jobs.cancel(job.id)
    finished = await start(client)
    fake.control.finish(finished.id)
    with pytest.raises(openai.BadRequestError):
        await client.fine_tuning.jobs.cancel(finished.id)
    assert fake.control.calls["jobs.cancel"] == 3


async def test_error_forms_of_a_job_that_has_not_failed(fake: OpenAIFake) -> None:
    async with fake.client() as client:
        job = await start(client)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=fake.base_url, headers=headers) as http:
        seen = []
        forms: tuple[ErrorForm, ...] = ("nulls", "empty", "null")
        for form in forms:
            fake.control.error_form = form
            seen.append((await http.get(f"/fine_tuning/jobs/{job.id}")).json()["error"])
    assert seen == [{"code": None, "message": None, "param": None}, {}, None]


async def test_list_jobs_by_metadata(client: openai.AsyncOpenAI, fake: OpenAIFake) -> None:
    a = await start(client, metadata={"jobdeck_job_id": "a"})
    b = await start(client, metadata={"jobdeck_job_id": "b", "team": "x"})
    plain = await start(client)
    found = await client.fine_tuning.jobs.list(metadata={"jobdeck_job_id": "b"})
    assert [job.id for job in found.data] == [b.id] and found.has_more is False
    assert (await client.fine_tuning.jobs.list(metadata={"jobdeck_job_id": "zzz"})).data == []
    newest_first = await client.fine_tuning.jobs.list(limit=2)
    assert [job.id for job in newest_first.data] == [plain.id, b.id] and newest_first.has_more
    rest = await client.fine_tuning.jobs.list(limit=2, after=b.id)
    assert [job.id for job in rest.data] == [a.id] and not rest.has_more
    unlabelled = await client.fine_tuning.jobs.list(extra_query={"metadata": "null"})
    assert [job.id for job in unlabelled.data] == [plain.id]


async def test_auth_and_not_found(fake: OpenAIFake) -> None:
    async with openai.AsyncOpenAI(
        base_url=fake.base_url, api_key="sk-wrong-secret-1234", max_retries=0
    ) as wrong:
        with pytest.raises(openai.AuthenticationError) as caught:
            await wrong.fine_tuning.jobs.list()
    assert "sk-wrong-secret" not in str(caught.value) and "1234" in str(caught.value)
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        missing = await http.get("/fine_tuning/jobs")
        assert missing.status_code == 401
        assert set(missing.json()["error"]) == {"message", "type", "param", "code"}
        unknown = await http.get("/nowhere", headers={"Authorization": f"Bearer {API_KEY}"})
        assert unknown.status_code == 404 and "Invalid URL" in unknown.json()["error"]["message"]
    async with fake.client(max_retries=0) as client:
        with pytest.raises(openai.NotFoundError):
            await client.fine_tuning.jobs.retrieve("ftjob-nope")
        with pytest.raises(openai.BadRequestError) as bad:
            await client.fine_tuning.jobs.create(model=MODEL, training_file="file-nope")
        assert isinstance(bad.value.body, dict) and bad.value.body["param"] == "training_file"
        with pytest.raises(openai.BadRequestError, match="n_epochs"):
            await start(client, hyperparameters={"n_epochs": "lots"})


@pytest.mark.slow
def test_runs_by_hand() -> None:
    port = free_port()
    command = [sys.executable, "-m", "tests.fakes.openai_server", "--port", str(port)]
    process = subprocess.Popen([*command, "--speed", "100"], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                reply = httpx.get(
                    f"http://127.0.0.1:{port}/v1/fine_tuning/jobs",
                    headers={"Authorization": f"Bearer {API_KEY}"},
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the fake did not start"
                time.sleep(0.05)
        assert reply.json() == {"object": "list", "data": [], "has_more": False}
    finally:
        process.terminate()
        process.communicate(timeout=10)
