"""Several API processes and workers on one Temporal server and one PostgreSQL database:
a job created through API 1 streams every event to a WebSocket client of API 2; API 2 is
SIGKILLed and its client resumes on API 1 with `?after=`, missing nothing; a worker is
SIGKILLed and its jobs finish on the other; every job ends once and nothing runs twice.
And `jobdeck up --workers 2 --api-processes 2` runs that topology from one command."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from jobdeck.admin import create_account
from jobdeck.store.accounts import Role
from jobdeck.store.engine import Database
from jobdeck.store.migrate import upgrade_async
from tests.conftest import drop_postgres_database, fresh_postgres_database
from tests.e2e.support import (
    Proc,
    Processes,
    clean_env,
    e2e_settings,
    free_ports,
    pid_running,
    port_open,
    start_worker,
    wait_for_output,
    worker_env,
)
from tests.helpers import create_job, events_of, wait_for_job

pytestmark = pytest.mark.slow

# ~30 s: still running when its worker dies, however slowly worker 2 starts on a busy machine
LONG = {"steps": 150, "step_seconds": 0.2}
SHORT = {"steps": 20, "step_seconds": 0.1}


class Feed:
    """A /ws/jobs client that keeps every event it receives, across reconnections."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.events: list[dict[str, Any]] = []
        self.ready = asyncio.Event()

    @property
    def last_id(self) -> int | None:
        return self.events[-1]["id"] if self.events else None

    async def follow(self, base_ws: str, after: int | None = None) -> None:
        """Until the connection drops (the API process died)."""
        self.ready.clear()
        query = "" if after is None else f"?after={after}"
        async with connect(
            f"{base_ws}/ws/jobs{query}",
            additional_headers={"Authorization": f"Bearer {self.key}"},
            proxy=None,
            open_timeout=30,
        ) as ws:
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "event":
                    self.events.append(message["event"])
                elif message["type"] == "ready":
                    self.ready.set()
                elif message["type"] == "reset":
                    raise AssertionError(f"the feed lost events: {message}")

    def of(self, job_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["jobId"] == job_id]

    async def wait_for(self, job_ids: list[str], kind: str, within: float) -> None:
        deadline = time.monotonic() + within
        while not all(any(e["kind"] == kind for e in self.of(j)) for j in job_ids):
            assert time.monotonic() < deadline, f"no {kind} event for every job on the feed"
            await asyncio.sleep(0.05)


def start_api(procs: Processes, name: str, env: dict[str, str], port: int, cwd: Path) -> Proc:
    return procs.start(
        name,
        [sys.executable, "-m", "jobdeck", "api"],
        env={**env, "JOBDECK_API_HOST": "127.0.0.1", "JOBDECK_API_PORT": str(port)},
        cwd=cwd,
    )


async def wait_ready(proc: Proc, base_url: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            assert proc.alive(), proc.tail()
            try:
                if (await http.get(f"{base_url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{proc.name} not ready:\n{proc.tail()}"
            await asyncio.sleep(0.2)


@pytest.mark.postgres
@pytest.mark.timeout(300)
async def test_two_apis_two_workers_lose_nothing_when_one_of_each_is_killed(
    temporal_env: WorkflowEnvironment, procs: Processes, tmp_path: Path
) -> None:
    database_url, db_name = await fresh_postgres_database()
    try:
        await _two_apis_two_workers(temporal_env, procs, tmp_path, database_url)
    finally:
        for proc in procs.procs:  # before the database is dropped under them
            procs.kill(proc)
        await drop_postgres_database(db_name)


async def _two_apis_two_workers(
    temporal_env: WorkflowEnvironment, procs: Processes, tmp_path: Path, database_url: str
) -> None:
    address = temporal_env.client.service_client.config.target_host
    settings = e2e_settings(tmp_path / "data", address, database_url=database_url)
    await upgrade_async(database_url)
    db = Database.connect(database_url)
    try:
        account = await create_account(
            db, organization="scale", email="scale@example.com", name="S", role=Role.ADMIN
        )
    finally:
        await db.dispose()
    env = worker_env(
        database_url=database_url,
        temporal_address=address,
        task_queue=settings.task_queue,
        data_dir=settings.data_dir,
    )
    port_1, port_2 = free_ports(2)
    url_1, url_2 = f"http://127.0.0.1:{port_1}", f"http://127.0.0.1:{port_2}"

    worker_1 = start_worker(procs, settings, "worker-1")
    api_1 = start_api(procs, "api-1", env, port_1, settings.data_dir)
    api_2 = start_api(procs, "api-2", env, port_2, settings.data_dir)
    await wait_ready(api_1, url_1)
    await wait_ready(api_2, url_2)
    await wait_for_output(worker_1, "worker running")

    feed = Feed(account.key)
    on_api_2 = asyncio.create_task(feed.follow(f"ws://127.0.0.1:{port_2}"))
    await asyncio.wait_for(feed.ready.wait(), 30)
    headers = {"Authorization": f"Bearer {account.key}"}
    async with httpx.AsyncClient(base_url=url_1, headers=headers, timeout=30) as api:
        # Worker 1 alone takes the long jobs: they are its when it dies.
        long_ids = [(await create_job(api, name=f"long-{i}", data=LONG))["id"] for i in (1, 2)]
        for job_id in long_ids:
            await wait_for_job(
                api,
                job_id,
                until=lambda j: (j["progress"] or {}).get("current", 0) >= 2,
                within=60,
                why=worker_1.tail,
            )
        worker_2 = start_worker(procs, settings, "worker-2")
        await wait_for_output(worker_2, "worker running")
        short_ids = [(await create_job(api, name=f"short-{i}", data=SHORT))["id"] for i in (1, 2)]
        job_ids = long_ids + short_ids

        # Jobs created through API 1 stream to the client of API 2 (another process).
        await feed.wait_for(job_ids, "created", within=30)
        await feed.wait_for(long_ids, "progress", within=30)

        assert procs.kill(api_2, signal.SIGKILL) == -signal.SIGKILL
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(on_api_2, 30)
        seen_on_api_2 = len(feed.events)
        on_api_1 = asyncio.create_task(feed.follow(f"ws://127.0.0.1:{port_1}", feed.last_id))

        # The long jobs are still running on worker 1: kill it.
        for job_id in long_ids:
            job = (await api.get(f"/api/jobs/{job_id}")).json()
            assert job["status"] == "active", job
            assert job["progress"]["current"] < LONG["steps"], job
        assert procs.kill(worker_1, signal.SIGKILL) == -signal.SIGKILL

        done = [
            await wait_for_job(api, job_id, within=120, why=worker_2.tail) for job_id in job_ids
        ]
        await feed.wait_for(job_ids, "completed", within=30)
        assert worker_2.alive(), worker_2.tail()
        assert api_1.alive(), api_1.tail()
        assert not on_api_1.done(), on_api_1
        on_api_1.cancel()

        # Every job ended once, completed, with all its steps.
        for job in done:
            assert job["status"] == "completed", job
            steps = LONG["steps"] if job["id"] in long_ids else SHORT["steps"]
            assert job["result"]["steps"] == steps, job
            assert job["progress"]["current"] == steps, job
        # The long jobs' step ran again on worker 2 (once more, not more); the short ones
        # ran on one worker: retried only if worker 1 held them when it died.
        for job in done:
            assert job["attempts"] == job["result"]["attempt"], job
            if job["id"] in long_ids:
                assert job["result"]["attempt"] == 2, job
            else:
                assert job["result"]["attempt"] in (1, 2), job
        stats = (await api.get("/api/jobs/stats")).json()
        assert stats["total"] == 4 and stats["completed"] == 4, stats  # no job made twice

        # The feed client missed nothing and got nothing twice, across both API processes.
        assert 0 < seen_on_api_2 < len(feed.events)
        received = [e["id"] for e in feed.events]
        assert len(received) == len(set(received)), "an event was delivered twice"
        assert received == sorted(received)
        for job_id in job_ids:
            stored = await events_of(api, job_id)
            assert [e["id"] for e in feed.of(job_id)] == [e["id"] for e in stored], job_id
            kinds = [e["kind"] for e in stored]
            for kind in ("created", "started", "completed"):
                assert kinds.count(kind) == 1, (job_id, kinds)
            assert not {"failed", "cancelled"} & set(kinds), kinds
            if job_id in long_ids:
                assert "attempt_failed" in kinds, kinds

    # One workflow run per job: nothing was started twice.
    for job_id in job_ids:
        runs = [w async for w in temporal_env.client.list_workflows(f'WorkflowId = "{job_id}"')]
        assert len(runs) == 1, runs


def consecutive_free_ports(count: int) -> int:
    """The first of `count` successive free ports on loopback."""
    for _ in range(50):
        (first,) = free_ports(1)
        if first + count > 65535:
            continue
        socks = []
        try:
            for port in range(first, first + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise AssertionError(f"no {count} successive free ports")


async def test_up_runs_n_workers_and_m_api_processes(procs: Processes, tmp_path: Path) -> None:
    api_port = consecutive_free_ports(2)
    t_port, ui_port = free_ports(2)
    env = clean_env(
        JOBDECK_DATA_DIR=str(tmp_path / "data"),
        JOBDECK_API_PORT=str(api_port),
        JOBDECK_TEMPORAL_ADDRESS=f"127.0.0.1:{t_port}",
        JOBDECK_TEMPORAL_UI_URL=f"http://127.0.0.1:{ui_port}",
    )
    cmd = [sys.executable, "-m", "jobdeck", "up", "--workers", "2", "--api-processes", "2"]
    up = procs.start("up", cmd, env=env, cwd=tmp_path)
    out = await wait_for_output(up, "Press Ctrl-C to stop.", within=120)
    children = procs.adopt_children(up)
    assert len(children) == 5, (children, up.tail())  # temporal, 2 workers, 2 APIs
    urls = [f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{api_port + 1}"]
    assert urls[0] in out and urls[1] in out, out
    assert "workers            2" in out, out
    key = (tmp_path / "data" / "admin-key").read_text().strip()

    job_ids = []
    for url in urls:  # each API process takes jobs; the workers run them
        async with httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as api:
            job = await create_job(
                api,
                type="bulk-operation",
                data={"action": "cancel", "filter": {"ids": ["nothing"]}},
            )
            job_ids.append(job["id"])
    async with httpx.AsyncClient(
        base_url=urls[1], headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as api:
        for job_id in job_ids:  # both jobs seen through API 2: one database
            done = await wait_for_job(api, job_id, within=60, why=up.tail)
            assert done["status"] == "completed", done

    up.popen.send_signal(signal.SIGINT)
    assert await asyncio.to_thread(up.popen.wait, 60) == 0, up.tail()
    out = up.output()
    for name in ("api-1", "api-2", "worker-1", "worker-2", "temporal"):
        assert f"stopped {name}" in out, out[-3000:]
    assert [pid for pid in children if pid_running(pid)] == [], up.tail()
    assert [p for p in (api_port, api_port + 1, t_port) if port_open(p)] == [], up.tail()
