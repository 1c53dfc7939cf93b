"""Job creation is crash-safe in both directions: a workflow started by an API that died
before writing the row still gets its row (written by the workflow's first step), and a
create that cannot reach Temporal answers 503 and leaves nothing behind."""

from __future__ import annotations

import signal
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from jobdeck.clock import utcnow
from jobdeck.domain import JobSpec
from jobdeck.services.jobs import PRIORITY_DEFAULT
from jobdeck.store.migrate import upgrade_async
from jobdeck.worker import build_workers
from tests.e2e.support import (
    Processes,
    e2e_settings,
    free_port,
    running_api,
    start_dev_server,
    wait_for_temporal,
)
from tests.helpers import event_kinds, wait_for_job

pytestmark = pytest.mark.slow


async def test_crash_between_workflow_start_and_row_write_leaves_no_orphan(
    temporal_env: WorkflowEnvironment, procs: Processes, tmp_path: Path
) -> None:
    address = temporal_env.client.service_client.config.target_host
    settings = e2e_settings(tmp_path / "data", address)
    await upgrade_async(settings.database_url)

    async with running_api(settings) as api:
        # What JobControl.create does up to the crash: build the spec, start the workflow
        # (with the same code) ... and die before inserting the row.
        job_type = api.jobs.registry.get("test-steps")
        spec = JobSpec(
            job_id=str(uuid.uuid4()),
            organization_id=api.organization_id,
            user_id=api.user_id,
            type=job_type.name,
            name="started, then the API crashed",
            data=job_type.validate({"steps": 3, "step_seconds": 0.02}),
            priority=PRIORITY_DEFAULT,
            created_at=utcnow().isoformat(),
        )
        started = await api.jobs._start_workflow(spec, job_type.workflow, job_type.task_queue)
        assert started is True
        # No worker polls the queue yet: the workflow exists, the row does not.
        missing = await api.client.get(f"/api/jobs/{spec.job_id}")
        assert missing.status_code == 404, missing.text

        async with AsyncExitStack() as stack:
            # A worker process of its own: its client connects eagerly, unlike the API's.
            worker_runtime = replace(api.runtime, temporal=temporal_env.client)
            for worker in build_workers(worker_runtime, api.jobs.registry):
                await stack.enter_async_context(worker)
            done = await wait_for_job(api.client, spec.job_id, within=30, missing_ok=True)

        assert done["status"] == "completed", done
        assert done["name"] == spec.name
        assert done["owner"] == {"userId": api.user_id, "organizationId": api.organization_id}
        assert done["result"] == {"steps": 3, "attempt": 1}
        assert done["createdAt"] is not None and done["startedAt"] is not None
        kinds = await event_kinds(api.client, spec.job_id)
        assert kinds[:2] == ["created", "started"], kinds
        assert kinds[-1] == "completed" and kinds.count("completed") == 1, kinds
        listed = (await api.client.get("/api/jobs")).json()["data"]
        assert [job["id"] for job in listed] == [spec.job_id]


async def test_create_with_temporal_down_answers_503_and_writes_nothing(
    procs: Processes, tmp_path: Path
) -> None:
    # The API process cannot start at all while Temporal is unreachable (its lifespan
    # connects eagerly), so Temporal dies after the API started.
    port = free_port()
    address = f"127.0.0.1:{port}"
    server = start_dev_server(procs, port=port, db_file=None)
    await wait_for_temporal(address, server)
    settings = e2e_settings(tmp_path / "data", address)
    await upgrade_async(settings.database_url)

    async with running_api(settings) as api:
        assert (await api.client.get("/readyz")).status_code == 200
        assert procs.kill(server, signal.SIGKILL) == -signal.SIGKILL

        began = time.monotonic()
        response = await api.client.post(
            "/api/jobs",
            json={"type": "test-steps", "name": "nowhere to run", "data": {"steps": 1}},
        )
        took = time.monotonic() - began
        assert response.status_code == 503, response.text
        detail = response.json()["detail"]
        assert "Temporal" in detail and "unreachable" in detail, detail
        assert took < 30, took

        listed = await api.client.get("/api/jobs")
        assert listed.status_code == 200, listed.text
        assert listed.json()["data"] == []
        stats = (await api.client.get("/api/jobs/stats")).json()
        assert stats["total"] == 0, stats
        ready = await api.client.get("/readyz")
        assert ready.status_code == 503, ready.text
