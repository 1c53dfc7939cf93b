"""The Temporal dev server killed while jobs run and started again on the same database
file: the running jobs go on and each ends exactly once; the worker and the API reconnect
by themselves."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from jobdeck.store.migrate import upgrade_async
from tests.e2e.support import (
    Processes,
    e2e_settings,
    free_port,
    port_open,
    running_api,
    start_dev_server,
    start_worker,
    wait_for_temporal,
)
from tests.helpers import create_job, event_kinds, wait_for_job

pytestmark = pytest.mark.slow


async def test_temporal_server_restarted_on_same_db_file_keeps_running_jobs(
    procs: Processes, tmp_path: Path
) -> None:
    port = free_port()
    address = f"127.0.0.1:{port}"
    db_file = tmp_path / "temporal.db"
    server = start_dev_server(procs, port=port, db_file=db_file)
    await wait_for_temporal(address, server)

    settings = e2e_settings(tmp_path / "data", address)
    await upgrade_async(settings.database_url)
    worker = start_worker(procs, settings)

    def logs() -> str:
        return f"worker:\n{worker.tail()}\ntemporal:\n{server.tail()}"

    async with running_api(settings) as api:
        jobs = [
            await create_job(
                api.client, name=f"through-restart-{i}", data={"steps": 30, "step_seconds": 0.1}
            )
            for i in range(3)
        ]
        ids = [job["id"] for job in jobs]
        for job_id in ids:
            await wait_for_job(
                api.client,
                job_id,
                until=lambda j: (j["progress"] or {}).get("current", 0) >= 2,
                within=30,
                why=logs,
            )

        assert procs.kill(server, signal.SIGKILL) == -signal.SIGKILL
        at_kill = [(await api.client.get(f"/api/jobs/{job_id}")).json() for job_id in ids]
        # The server died in the middle of every job, not after one of them ended.
        assert all(job["progress"]["current"] < 30 for job in at_kill), at_kill
        assert not port_open(port)
        await asyncio.sleep(1)
        mid = [(await api.client.get(f"/api/jobs/{job_id}")).json() for job_id in ids]
        assert all(job["status"] == "active" for job in mid), mid

        server = start_dev_server(procs, port=port, db_file=db_file)
        await wait_for_temporal(address, server)

        for job_id in ids:
            done = await wait_for_job(api.client, job_id, within=60, why=logs)
            assert done["status"] == "completed", done
            assert done["result"]["steps"] == 30, done
            kinds = await event_kinds(api.client, job_id)
            assert kinds.count("started") == 1, kinds
            assert kinds.count("completed") == 1, kinds
            assert kinds[-1] == "completed", kinds

        # The API's own Temporal client reconnected: it starts a new job, which the
        # (reconnected) worker runs.
        ready = await api.client.get("/readyz")
        assert ready.status_code == 200, ready.text
        after = await create_job(
            api.client, name="after-restart", data={"steps": 3, "step_seconds": 0.01}
        )
        done = await wait_for_job(api.client, after["id"], within=30, why=logs)
        assert done["status"] == "completed", done

    # The worker lived through the outage, and still stops cleanly when told to.
    assert worker.alive(), worker.tail()
    assert procs.kill(worker, signal.SIGTERM, timeout=20) == 0, worker.tail()
