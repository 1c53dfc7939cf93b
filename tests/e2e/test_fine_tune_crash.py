"""A fine-tune whose worker is SIGKILLed mid-loop: a new worker resumes the polling, the
job completes once, and the provider job was created exactly once."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import openai
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from jobdeck.store.migrate import upgrade_async
from tests.e2e.support import (
    REPO_ROOT,
    Processes,
    e2e_settings,
    free_port,
    running_api,
    wait_for_output,
    worker_env,
)
from tests.finetuning.conftest import chat_jsonl, start_fine_tune, upload_dataset
from tests.helpers import event_kinds, wait_for_job

pytestmark = pytest.mark.slow
KEY = "sk-e2e-fake"


async def test_worker_killed_mid_fine_tune_resumes_and_creates_one_provider_job(
    temporal_env: WorkflowEnvironment, procs: Processes, tmp_path: Path
) -> None:
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
    address = temporal_env.client.service_client.config.target_host
    settings = e2e_settings(tmp_path / "data", address).model_copy(
        update={
            "openai_api_key": SecretStr(KEY),
            "openai_base_url": f"http://127.0.0.1:{port}/v1",
            "fine_tuning_poll_interval_s": 1.0,
        }
    )
    await upgrade_async(settings.database_url)
    env = {
        **worker_env(
            database_url=settings.database_url,
            temporal_address=address,
            task_queue=settings.task_queue,
            data_dir=settings.data_dir,
        ),
        "JOBDECK_OPENAI_API_KEY": KEY,
        "JOBDECK_OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
        "JOBDECK_FINE_TUNING_POLL_INTERVAL_S": "1.0",
    }
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

    client = openai.AsyncOpenAI(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1")
    provider_jobs = [
        j async for j in client.fine_tuning.jobs.list(metadata={"jobdeck_job_id": job_id})
    ]
    await client.close()
    assert len(provider_jobs) == 1
    assert provider_jobs[0].status == "succeeded"
