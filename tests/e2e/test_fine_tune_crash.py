"""Fine-tunes through crashes: a worker SIGKILLed mid-loop, and the Temporal server
SIGKILLed and restarted on its database file mid-loop. Each time the polling resumes, the
job completes once, and the provider job was created exactly once."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import openai
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from jobdeck.config import Settings
from jobdeck.store.migrate import upgrade_async
from tests.e2e.support import (
    REPO_ROOT,
    Processes,
    e2e_settings,
    free_port,
    running_api,
    start_dev_server,
    wait_for_output,
    wait_for_temporal,
    worker_env,
)
from tests.fine_tuning.conftest import chat_jsonl, start_fine_tune, upload_dataset
from tests.helpers import event_kinds, wait_for_job

pytestmark = pytest.mark.slow
KEY = "sk-e2e-fake"


async def _fake_openai(procs: Processes) -> str:
    port = free_port()
    fake = procs.start(
        "fake-openai",
        [
            sys.executable,
            "-m",
            "tests.fakes.openai_server",
            "--port",
            str(port),
            "--speed",
            "5",
            "--api-key",
            KEY,
        ],
        cwd=REPO_ROOT,
    )
    await wait_for_output(fake, "Uvicorn running", within=30)
    return f"http://127.0.0.1:{port}/v1"


async def _provider_jobs(base_url: str, job_id: str) -> list[str]:
    client = openai.AsyncOpenAI(api_key=KEY, base_url=base_url)
    try:
        return [
            j.status
            async for j in client.fine_tuning.jobs.list(metadata={"jobdeck_job_id": job_id})
        ]
    finally:
        await client.close()


def _settings(tmp_path: Path, address: str, base_url: str) -> tuple[Settings, dict[str, str]]:
    settings = e2e_settings(tmp_path / "data", address).model_copy(
        update={
            "openai_api_key": SecretStr(KEY),
            "openai_base_url": base_url,
            "fine_tuning_poll_interval_s": 1.0,
        }
    )
    env = {
        **worker_env(
            database_url=settings.database_url,
            temporal_address=address,
            task_queue=settings.task_queue,
            data_dir=settings.data_dir,
        ),
        "JOBDECK_OPENAI_API_KEY": KEY,
        "JOBDECK_OPENAI_BASE_URL": base_url,
        "JOBDECK_FINE_TUNING_POLL_INTERVAL_S": "1.0",
    }
    return settings, env


async def test_temporal_restarted_mid_fine_tune_resumes_the_loop(
    procs: Processes, tmp_path: Path
) -> None:
    base_url = await _fake_openai(procs)
    port = free_port()
    address = f"127.0.0.1:{port}"
    db_file = tmp_path / "temporal.db"
    server = start_dev_server(procs, port=port, db_file=db_file)
    await wait_for_temporal(address, server)
    settings, env = _settings(tmp_path, address, base_url)
    await upgrade_async(settings.database_url)
    procs.start(
        "worker", [sys.executable, "-m", "jobdeck", "worker"], env=env, cwd=settings.data_dir
    )
    async with running_api(settings) as api:
        record = await start_fine_tune(api.client, await upload_dataset(api.client, chat_jsonl()))
        job_id = record["jobId"]
        await wait_for_job(
            api.client,
            job_id,
            lambda j: (j["progress"] or {}).get("stage") == "training",
            within=60,
        )
        procs.kill(server, signal.SIGKILL)
        server = start_dev_server(procs, port=port, db_file=db_file)
        await wait_for_temporal(address, server)
        done = await wait_for_job(api.client, job_id, within=120)
        assert done["status"] == "completed", done
        kinds = await event_kinds(api.client, job_id)
        assert kinds.count("started") == 1 and kinds.count("completed") == 1, kinds
    assert await _provider_jobs(base_url, job_id) == ["succeeded"]


async def test_worker_killed_mid_fine_tune_resumes_and_creates_one_provider_job(
    temporal_env: WorkflowEnvironment, procs: Processes, tmp_path: Path
) -> None:
    base_url = await _fake_openai(procs)
    address = temporal_env.client.service_client.config.target_host
    settings, env = _settings(tmp_path, address, base_url)
    await upgrade_async(settings.database_url)
    worker_cmd = [sys.executable, "-m", "jobdeck", "worker"]
    first = procs.start("worker-1", worker_cmd, env=env, cwd=settings.data_dir)
    async with running_api(settings) as api:
        dataset = await upload_dataset(api.client, chat_jsonl())
        record = await start_fine_tune(api.client, dataset)
        job_id = record["jobId"]
        await wait_for_job(
            api.client,
            job_id,
            lambda j: (j["progress"] or {}).get("stage") == "training",
            within=60,
        )
        procs.kill(first, signal.SIGKILL)
        procs.start("worker-2", worker_cmd, env=env, cwd=settings.data_dir)
        done = await wait_for_job(api.client, job_id, within=120)
        assert done["status"] == "completed", done
        kinds = await event_kinds(api.client, job_id)
        assert kinds.count("started") == 1 and kinds.count("completed") == 1, kinds
        fine_tune = (await api.client.get(f"/api/fine-tuning/jobs/{job_id}")).json()
        assert fine_tune["status"] == "succeeded" and fine_tune["modelId"]
    assert await _provider_jobs(base_url, job_id) == ["succeeded"]
