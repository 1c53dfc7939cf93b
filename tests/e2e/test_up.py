"""`jobdeck up`: one command starts Temporal, the worker and the API; Ctrl-C stops all
three; a second run on the same data folder keeps the jobs and the admin key."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from tests.e2e.support import (
    Proc,
    Processes,
    clean_env,
    free_ports,
    pid_running,
    port_open,
    wait_for_output,
)
from tests.helpers import wait_for_job

pytestmark = pytest.mark.slow

READY_LINE = "Press Ctrl-C to stop."


def start_up(procs: Processes, cwd: Path, api_port: int, t_port: int, ui_port: int) -> Proc:
    env = clean_env(
        JOBDECK_DATA_DIR=str(cwd / "data"),
        JOBDECK_API_PORT=str(api_port),
        JOBDECK_TEMPORAL_ADDRESS=f"127.0.0.1:{t_port}",
        JOBDECK_TEMPORAL_UI_URL=f"http://127.0.0.1:{ui_port}",
    )
    return procs.start("up", [sys.executable, "-m", "jobdeck", "up"], env=env, cwd=cwd)


async def wait_until_up(procs: Processes, up: Proc) -> tuple[str, list[int]]:
    """What `up` printed once ready, and its children (known from now on to the process
    keeper, which kills them by id should `up` fail to)."""
    out = await wait_for_output(up, READY_LINE, within=90)
    assert "jobdeck is up" in out
    children = procs.adopt_children(up)
    assert len(children) == 3, (children, up.tail())  # temporal, worker, api
    return out, children


async def stop_up(up: Proc, children: list[int], ports: list[int]) -> None:
    """Ctrl-C: `up` exits 0 within 30 s, its children are gone, no port answers."""
    up.popen.send_signal(signal.SIGINT)
    began = time.monotonic()
    rc = await asyncio.to_thread(up.popen.wait, 30)
    assert rc == 0, up.tail()
    assert time.monotonic() - began < 30
    out = up.output()
    for name in ("api", "worker", "temporal"):
        assert f"stopped {name}" in out, out[-3000:]
    assert [pid for pid in children if pid_running(pid)] == [], up.tail()
    assert [port for port in ports if port_open(port)] == [], up.tail()


async def wait_http_200(url: str, within_s: float = 30) -> httpx.Response:
    deadline = time.monotonic() + within_s
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            try:
                response = await client.get(url)
                if response.status_code == 200:
                    return response
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{url} never answered 200"
            await asyncio.sleep(0.2)


async def test_jobdeck_up_starts_everything_and_stops_cleanly_on_ctrl_c(
    procs: Processes, tmp_path: Path
) -> None:
    api_port, t_port, ui_port = free_ports(3)
    ports = [api_port, t_port, ui_port]
    api_url = f"http://127.0.0.1:{api_port}"
    ui_url = f"http://127.0.0.1:{ui_port}"
    data = tmp_path / "data"

    # First run: a fresh data folder gets a new admin key, shown once.
    up = start_up(procs, tmp_path, api_port, t_port, ui_port)
    out, children = await wait_until_up(procs, up)
    assert api_url in out
    assert f"Temporal Web UI    {ui_url}" in out
    keys = re.findall(r"admin API key\s+(jd_\S+)", out)
    assert len(keys) == 1, out[-3000:]
    key = keys[0]
    assert (data / "admin-key").read_text().strip() == key

    async with httpx.AsyncClient(
        base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as api:
        assert (await api.get("/healthz")).status_code == 200
        response = await api.post(
            "/api/jobs",
            json={
                "type": "bulk-operation",
                "name": "noop",
                "data": {"action": "cancel", "filter": {"ids": ["nothing"]}},
            },
        )
        assert response.status_code == 201, response.text
        job_id = response.json()["id"]
        done = await wait_for_job(api, job_id, within=30, why=up.tail)
        assert done["status"] == "completed", done
        assert done["result"]["matched"] == 0, done
        assert done["links"]["workflow"].startswith(f"{ui_url}/namespaces/default/workflows/")
    await wait_http_200(ui_url)

    await stop_up(up, children, ports)
    assert (data / "temporal.db").is_file()
    assert (data / "jobdeck.db").is_file()

    # Second run on the same data folder: no new key, the job is still there.
    up = start_up(procs, tmp_path, api_port, t_port, ui_port)
    out, children = await wait_until_up(procs, up)
    assert "jd_" not in out, out[-3000:]
    assert f"admin API key      in {data / 'admin-key'}" in out, out[-3000:]
    async with httpx.AsyncClient(
        base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as api:
        listed = await api.get("/api/jobs")
        assert listed.status_code == 200, listed.text
        assert [(j["id"], j["status"]) for j in listed.json()["data"]] == [(job_id, "completed")]
        ready = await api.get("/readyz")
        assert ready.status_code == 200, ready.text
    # Temporal kept its history too (its database file, not only the app's rows).
    temporal = await Client.connect(f"127.0.0.1:{t_port}")
    described = await temporal.get_workflow_handle(job_id).describe()
    assert described.status == WorkflowExecutionStatus.COMPLETED
    await stop_up(up, children, ports)


def _child(pid: int, role: str) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return argv[-3:-1] == [b"jobdeck", role.encode()] or argv[-2:-1] == [role.encode()]


async def _new_child(procs: Processes, up: Proc, role: str, old: int, within: float = 30) -> int:
    deadline = time.monotonic() + within
    while True:
        found = [p for p in procs.adopt_children(up) if p != old and _child(p, role)]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no new {role} process:\n{up.tail()}"
        await asyncio.sleep(0.2)


async def test_jobdeck_up_restarts_a_worker_or_api_that_dies(
    procs: Processes, tmp_path: Path
) -> None:
    api_port, t_port, ui_port = free_ports(3)
    api_url = f"http://127.0.0.1:{api_port}"
    up = start_up(procs, tmp_path, api_port, t_port, ui_port)
    out, children = await wait_until_up(procs, up)
    key = re.findall(r"admin API key\s+(jd_\S+)", out)[0]
    [worker] = [p for p in children if _child(p, "worker")]
    [api_pid] = [p for p in children if _child(p, "api")]

    # The worker is killed: `up` says so, starts another, and jobs still run.
    os.kill(worker, signal.SIGKILL)
    await wait_for_output(up, "worker exited with code -9; restarting it in 1 s", within=10)
    await wait_for_output(up, "restarted worker", within=10)
    new_worker = await _new_child(procs, up, "worker", worker)

    # The API is terminated: it comes back on the same port.
    os.kill(api_pid, signal.SIGTERM)
    await wait_for_output(up, "restarted api", within=15)
    new_api = await _new_child(procs, up, "api", api_pid)
    await wait_http_200(f"{api_url}/healthz", within_s=60)

    async with httpx.AsyncClient(
        base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as api:
        response = await api.post(
            "/api/jobs",
            json={
                "type": "bulk-operation",
                "name": "after the restarts",
                "data": {"action": "cancel", "filter": {"ids": ["nothing"]}},
            },
        )
        assert response.status_code == 201, response.text
        done = await wait_for_job(api, response.json()["id"], within=60, why=up.tail)
        assert done["status"] == "completed", done
    assert up.alive()
    children = [p for p in procs.adopt_children(up) if pid_running(p)]
    assert new_worker in children and new_api in children
    await stop_up(up, children, [api_port, t_port, ui_port])
    # Only this user may read the data folder and the databases in it.
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "data" / "jobdeck.db").stat().st_mode & 0o777 == 0o600
