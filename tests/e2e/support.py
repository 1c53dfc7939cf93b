"""Whole-process test support: free ports, subprocesses that are always cleaned up, the
Temporal dev server and jobdeck workers as real processes, and the API app in-process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
from temporalio.client import Client

from jobdeck.admin import create_account
from jobdeck.api.app import create_app
from jobdeck.config import Settings
from jobdeck.devserver import dev_server_command
from jobdeck.runtime import Runtime
from jobdeck.services.jobs import JobControl
from jobdeck.store.accounts import Role

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_JOB_TYPES = ["tests.jobtypes"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports (each socket stays bound until all are picked)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any JOBDECK_ setting, plus `extra`, with the
    repository root importable (for tests.jobtypes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBDECK_")}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def tail(self, chars: int = 3000) -> str:
        return self.output()[-chars:]


def children_of(pid: int) -> list[int]:
    """Direct children of a process, from /proc (Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def pid_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class Processes:
    """Every process a test starts; whatever is still running at teardown is killed."""

    log_dir: Path
    procs: list[Proc] = field(default_factory=list)
    # Processes started by our processes (e.g. by `jobdeck up`), killed by id at teardown.
    adopted: set[int] = field(default_factory=set)

    def start(
        self,
        name: str,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Proc:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{len(self.procs):02d}-{name}.log"
        log = log_path.open("wb")
        popen = subprocess.Popen(
            args,
            env=env if env is not None else clean_env(),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc = Proc(name, popen, log_path, log)
        self.procs.append(proc)
        return proc

    def kill(self, proc: Proc, sig: int = signal.SIGKILL, timeout: float = 20) -> int:
        if proc.alive():
            proc.popen.send_signal(sig)
        return proc.popen.wait(timeout=timeout)

    def adopt_children(self, proc: Proc) -> list[int]:
        pids = children_of(proc.pid)
        self.adopted.update(pids)
        return pids

    def cleanup(self) -> str:
        """Kill everything left; returns the tails of the logs for a failing test."""
        report = []
        for proc in reversed(self.procs):
            if proc.alive():
                self.adopted.update(children_of(proc.pid))
                proc.popen.kill()
            try:
                proc.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a stuck kernel
                pass
        for pid in self.adopted:
            if pid_running(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for proc in self.procs:
            report.append(f"----- {proc.name} (pid {proc.pid}, rc {proc.popen.returncode})")
            report.append(proc.tail())
            proc.log.close()
        return "\n".join(report)


def worker_env(
    *, database_url: str, temporal_address: str, task_queue: str, data_dir: Path
) -> dict[str, str]:
    return clean_env(
        JOBDECK_ENVIRONMENT="test",
        JOBDECK_DATA_DIR=str(data_dir),
        JOBDECK_DATABASE_URL=database_url,
        JOBDECK_TEMPORAL_ADDRESS=temporal_address,
        JOBDECK_TASK_QUEUE=task_queue,
        JOBDECK_JOB_TYPE_MODULES='["tests.jobtypes"]',
        JOBDECK_PROGRESS_INTERVAL_S="0.05",
        JOBDECK_HEARTBEAT_INTERVAL_S="0.5",
    )


def start_worker(
    procs: Processes, settings: Settings, name: str = "worker", **extra_env: str
) -> Proc:
    env = (
        worker_env(
            database_url=settings.database_url,
            temporal_address=settings.temporal_address,
            task_queue=settings.task_queue,
            data_dir=settings.data_dir,
        )
        | extra_env
    )
    return procs.start(
        name, [sys.executable, "-m", "jobdeck", "worker"], env=env, cwd=settings.data_dir
    )


async def wait_for_output(proc: Proc, text: str, within: float = 60) -> str:
    deadline = time.monotonic() + within
    while True:
        out = proc.output()
        if text in out:
            return out
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{proc.name} never printed {text!r}:\n{proc.tail()}")
        await asyncio.sleep(0.1)


def start_dev_server(procs: Processes, *, port: int, db_file: Path | None) -> Proc:
    cmd = dev_server_command(db_file=db_file, ip="127.0.0.1", port=port, ui_port=None)
    return procs.start("temporal", cmd, env=clean_env())


async def wait_for_temporal(address: str, proc: Proc | None = None, within: float = 30) -> None:
    """Until the server answers a namespace-scoped call (not just a listening port)."""
    deadline = time.monotonic() + within
    while True:
        try:
            client = await Client.connect(address)
            await client.count_workflows()
            return
        except Exception as err:  # any failure means "not yet"
            if proc is not None and not proc.alive():
                raise AssertionError(f"temporal exited:\n{proc.tail()}") from err
            if time.monotonic() > deadline:
                raise AssertionError(f"Temporal at {address} not ready: {err}") from err
            await asyncio.sleep(0.1)


def e2e_settings(
    data_dir: Path, temporal_address: str, *, database_url: str | None = None
) -> Settings:
    data_dir.mkdir(parents=True, exist_ok=True)
    return Settings(
        environment="test",
        data_dir=data_dir,
        database_url=database_url or f"sqlite+aiosqlite:///{data_dir / 'jobdeck.db'}",
        temporal_address=temporal_address,
        task_queue=f"e2e-{uuid.uuid4().hex[:8]}",
        job_type_modules=TEST_JOB_TYPES,
        progress_interval_s=0.05,
        heartbeat_interval_s=0.5,
    )


@dataclass
class Api:
    """The API app in this process (its own Temporal client and database engine), with
    an admin of a fresh organization."""

    client: httpx.AsyncClient
    runtime: Runtime
    jobs: JobControl
    organization_id: str
    user_id: str


@asynccontextmanager
async def running_api(settings: Settings) -> AsyncIterator[Api]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        runtime: Runtime = app.state.runtime
        suffix = uuid.uuid4().hex[:8]
        account = await create_account(
            runtime.db,
            organization=f"org-{suffix}",
            email=f"e2e-{suffix}@example.com",
            name="E2E",
            role=Role.ADMIN,
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://jobdeck.test",
            headers={"Authorization": f"Bearer {account.key}"},
        ) as client:
            yield Api(client, runtime, app.state.jobs, account.organization_id, account.user_id)
