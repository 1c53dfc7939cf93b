"""A training worker SIGKILLed mid-training: the next worker resumes from the last
checkpoint (not from step 0) and the job ends once, with exactly the planned number of
optimizer steps and one loss point per logging step."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from jobdeck.store.migrate import upgrade_async
from tests.e2e.support import Processes, e2e_settings, running_api, worker_env
from tests.fine_tuning.conftest import upload_dataset
from tests.helpers import event_kinds, events_of, wait_for_job
from tests.training.tiny_model import BASE, build_tiny_model, chat_examples, chat_jsonl

pytestmark = pytest.mark.slow


async def test_a_killed_training_worker_resumes_from_its_checkpoint(
    temporal_env: WorkflowEnvironment, procs: Processes, tmp_path: Path
) -> None:
    address = temporal_env.client.service_client.config.target_host
    settings = e2e_settings(tmp_path / "data", address)
    build_tiny_model(settings.base_models_root / BASE, chat_examples(64))
    await upgrade_async(settings.database_url)
    env = {
        **worker_env(
            database_url=settings.database_url,
            temporal_address=address,
            task_queue=settings.task_queue,
            data_dir=settings.data_dir,
        ),
        # A lost try is presumed lost after 3 s without a heartbeat (120 s by default).
        "JOBDECK_TRAINING_HEARTBEAT_TIMEOUT_S": "3",
        "JOBDECK_WORKER_TRAINING": "on",
    }
    worker_cmd = [sys.executable, "-m", "jobdeck", "worker"]
    first = procs.start("worker-1", worker_cmd, env=env, cwd=settings.data_dir)
    async with running_api(settings) as api:
        dataset = await upload_dataset(api.client, chat_jsonl(chat_examples(32)))
        body = {
            "name": "resumable",
            "provider": "local",
            "datasetId": dataset,
            "baseModel": BASE,
            "training": {
                "epochs": 60,
                "batchSize": 4,
                "checkpointEvery": 20,
                "logEvery": 10,
                "device": "cpu",
            },
        }
        response = await api.client.post("/api/fine-tuning/jobs", json=body)
        assert response.status_code == 201, response.text
        job_id = response.json()["jobId"]
        await wait_for_job(
            api.client,
            job_id,
            lambda j: (j["progress"] or {}).get("current", 0) >= 45,
            within=90,
        )
        procs.kill(first, signal.SIGKILL)
        procs.start("worker-2", worker_cmd, env=env, cwd=settings.data_dir)
        done = await wait_for_job(api.client, job_id, within=120)
        assert done["status"] == "completed", done
        result = done["result"]
        assert result["steps"] == result["totalSteps"] == 480  # 32 / 4 x 60 epochs
        resumed = result["resumedFromStep"]
        assert resumed >= 40 and resumed % 20 == 0, result
        assert result["stepsThisTry"] == 480 - resumed
        kinds = await event_kinds(api.client, job_id)
        assert kinds.count("started") == 1 and kinds.count("completed") == 1, kinds
        assert "attempt_failed" in kinds  # the lost try is on the record
        messages = [
            e["data"]["message"]
            for e in await events_of(api.client, job_id)
            if e["kind"] == "message"
        ]
        assert f"resumed from the checkpoint of step {resumed}" in messages
        fine_tune = (await api.client.get(f"/api/fine-tuning/jobs/{job_id}")).json()
        assert fine_tune["status"] == "succeeded"
        assert [m["step"] for m in fine_tune["metrics"]] == list(range(10, 481, 10))
        assert done["attempts"] == 2
