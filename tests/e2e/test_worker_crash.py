"""A worker killed with SIGKILL in the middle of a job: a new worker finishes the job, and
it ends exactly once."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from jobdeck.store.migrate import upgrade_async
from tests.e2e.support import (
    Processes,
    e2e_settings,
    running_api,
    start_worker,
)
from tests.helpers import create_job, event_kinds, wait_for_job

pytestmark = pytest.mark.slow


async def test_worker_killed_mid_job_restarts_and_completes_once(
    temporal_env: WorkflowEnvironment, procs: Processes, tmp_path: Path
) -> None:
    address = temporal_env.client.service_client.config.target_host
    settings = e2e_settings(tmp_path / "data", address)
    await upgrade_async(settings.database_url)

    first = start_worker(procs, settings, "worker-1")
    async with running_api(settings) as api:
        job = await create_job(api.client, name="killed", data={"steps": 40, "step_seconds": 0.1})
        job_id = job["id"]

        running = await wait_for_job(
            api.client,
            job_id,
            until=lambda j: (j["progress"] or {}).get("current", 0) >= 5,
            within=30,
            why=first.tail,
        )
        assert running["status"] == "active", running
        assert first.alive()
        assert procs.kill(first, signal.SIGKILL) == -signal.SIGKILL

        # Nothing runs the job now: it must stay active and short of its last step.
        stalled = (await api.client.get(f"/api/jobs/{job_id}")).json()
        assert stalled["status"] == "active", stalled
        assert stalled["progress"]["current"] < 40, stalled

        second = start_worker(procs, settings, "worker-2")
        # The dead worker's attempt times out on its heartbeat (5 s), then the step reruns.
        done = await wait_for_job(api.client, job_id, within=60, why=second.tail)
        assert second.alive(), second.tail()

        assert done["status"] == "completed", done
        assert done["result"]["steps"] == 40, done
        assert done["result"]["attempt"] >= 2, done  # the step really ran again
        # The lost try is counted and said, though the dead worker could not report it.
        assert done["attempts"] == done["result"]["attempt"], done
        assert done["progress"]["current"] == 40, done
        assert done["error"] is None

        kinds = await event_kinds(api.client, job_id)
        assert kinds.count("created") == 1, kinds
        assert kinds.count("started") == 1, kinds
        assert kinds.count("completed") == 1, kinds
        assert "attempt_failed" in kinds, kinds
        assert not {"failed", "cancelled"} & set(kinds), kinds
        assert kinds[-1] == "completed", kinds
