"""`jobdeck up`: the Temporal dev server, the workers and the API processes on one machine,
started in that order, kept running (a process that dies is restarted with a backoff), and
stopped in the reverse order on Ctrl-C or when one of them is in a crash loop.

`--workers N` / `--api-processes M` (settings `workers`, `api_processes`) run N workers and
M API processes against the same Temporal server and database. The API processes listen on
successive ports (api_port, api_port + 1, ...), not on one port shared with SO_REUSEPORT:
each process stays addressable on its own (a health check, a restart, a test or a load
balancer in front can tell them apart), a process that dies takes only its own connections
with it (with SO_REUSEPORT, the connections waiting in a dead listener's accept queue are
reset), and it works the same on every OS (macOS's SO_REUSEPORT does not balance). Several
API processes behind one address are the job of the proxy or load balancer in front, as in
docker-compose.yml."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import urlparse

import httpx

from jobdeck.admin import admin_key_path, bootstrap
from jobdeck.api.routes.session import _secret as session_secret
from jobdeck.config import Settings
from jobdeck.devserver import dev_server_command
from jobdeck.store.engine import Database
from jobdeck.store.migrate import upgrade

logger = logging.getLogger(__name__)


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


def listens(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Child:
    """One supervised process: how to start it, and its recent starts."""

    name: str
    command: list[str]
    env: dict[str, str] | None = None
    # Children of one tier (e.g. every worker) are stopped together, tiers one by one.
    tier: str = ""
    proc: subprocess.Popen[bytes] | None = None
    starts: deque[float] = field(default_factory=deque)
    restart_at: float | None = None  # when a crashed child is due to start again


class Supervisor:
    """Keeps `jobdeck up`'s processes running. A child that exits unasked is restarted
    after a backoff (1 s, doubling up to 30 s) and the restart is said on stderr. A child
    that had to be started `max_restarts` times within `window_s` is in a crash loop: then
    everything stops, as it does on Ctrl-C."""

    def __init__(
        self,
        children: list[Child],
        *,
        window_s: float = 60.0,
        max_restarts: int = 5,
        first_backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.children = children
        self.window_s = window_s
        self.max_restarts = max_restarts
        self.first_backoff_s = first_backoff_s
        self.max_backoff_s = max_backoff_s

    def start(self, child: Child) -> subprocess.Popen[bytes]:
        child.proc = subprocess.Popen(
            child.command,
            env=child.env,
            start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
        )
        child.starts.append(time.monotonic())
        child.restart_at = None
        return child.proc

    def check(self) -> str | None:
        """Restart what crashed (when its backoff is over); the reason to stop everything
        when a child is in a crash loop, else None."""
        now = time.monotonic()
        for child in self.children:
            if child.proc is None:
                continue
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self.start(child)
                    print(f"  restarted {child.name}", file=sys.stderr, flush=True)
                continue
            code = child.proc.poll()
            if code is None:
                continue
            while child.starts and now - child.starts[0] > self.window_s:
                child.starts.popleft()
            if len(child.starts) >= self.max_restarts:
                return (
                    f"{child.name} exited with code {code}, {len(child.starts)} times within "
                    f"{self.window_s:.0f} s: a crash loop, so jobdeck stops"
                )
            delay = min(self.max_backoff_s, self.first_backoff_s * 2 ** (len(child.starts) - 1))
            child.restart_at = now + delay
            print(
                f"{child.name} exited with code {code}; restarting it in {delay:.0f} s",
                file=sys.stderr,
                flush=True,
            )
        return None

    def stop(self) -> None:
        """Stop every child, the last started first; the children of one tier together
        (SIGTERM to all of them, then wait), so N workers take as long as one."""
        tiers: list[list[Child]] = []
        for child in reversed(self.children):
            if tiers and child.tier and tiers[-1][0].tier == child.tier:
                tiers[-1].append(child)
            else:
                tiers.append([child])
        for tier in tiers:
            for child in tier:
                if child.proc is not None and child.proc.poll() is None:
                    child.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            for child in tier:
                proc = child.proc
                if proc is None:
                    continue
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    logger.warning("%s did not stop in 20 s; killing it", child.name)
                    proc.kill()
                    proc.wait()
                print(f"  stopped {child.name}", flush=True)


def wait_until_ready(
    supervisor: Supervisor,
    children: list[Child],
    checks: list[tuple[str, Callable[[], bool]]],
    timeout: float,
    stopped: Callable[[], bool] = lambda: False,
) -> bool:
    """Until `children` all run and every check passes, at one moment (True), or until
    `stopped` says Ctrl-C came meanwhile (False). A child that exits meanwhile is
    restarted by the supervisor and waited for again (a crash loop ends the wait), so
    `up` never says it is up while part of it is down. The dev server panics
    (exit code 2) when its port is taken between the CLI's own check and the server's bind,
    as happens to a port picked free while other programs start servers: in a CI run the
    banner showed over that dead server and a worker that had exited unable to connect."""
    deadline = time.monotonic() + timeout
    while not stopped():
        crash_loop = supervisor.check()
        if crash_loop:
            raise RuntimeError(crash_loop)
        waiting = [
            child.name
            for child in children
            if child.proc is None or child.restart_at is not None or child.proc.poll() is not None
        ]
        if not waiting:
            waiting = [name for name, ready in checks if not ready()]
            if not waiting:
                return True
        if time.monotonic() >= deadline:
            raise RuntimeError(f"not ready after {timeout:.0f} s: {', '.join(waiting)}")
        time.sleep(0.2)
    return False


async def _prepare(settings: Settings) -> str | None:
    db = Database.connect(settings.database_url)
    try:
        return await bootstrap(settings, db)
    finally:
        await db.dispose()


def api_ports(settings: Settings) -> list[int]:
    """The ports of `jobdeck up`'s API processes: api_port and the ones after it."""
    last = settings.api_port + settings.api_processes - 1
    if last > 65535:
        raise ValueError(
            f"{settings.api_processes} API processes from port {settings.api_port} need "
            f"ports up to {last}, beyond 65535: choose a lower JOBDECK_API_PORT"
        )
    return list(range(settings.api_port, last + 1))


def app_children(settings: Settings, env: dict[str, str]) -> list[Child]:
    """`jobdeck up`'s workers, then its API processes (each with its own port)."""
    one_worker, one_api = settings.workers == 1, settings.api_processes == 1
    workers = [
        Child(
            "worker" if one_worker else f"worker-{i}",
            [sys.executable, "-m", "jobdeck", "worker"],
            env,
            tier="worker",
        )
        for i in range(1, settings.workers + 1)
    ]
    apis = [
        Child(
            "api" if one_api else f"api-{i}",
            [sys.executable, "-m", "jobdeck", "api"],
            {**env, "JOBDECK_API_PORT": str(port)},
            tier="api",
        )
        for i, port in enumerate(api_ports(settings), start=1)
    ]
    return workers + apis


def _say_up(settings: Settings, api_urls: list[str], new_key: str | None) -> None:
    api_url = api_urls[0]
    print(f"\njobdeck is up\n  API and dashboard  {api_url}")
    for url in api_urls[1:]:
        print(f"                     {url}")
    if settings.workers > 1:
        print(f"  workers            {settings.workers}")
    print(f"  API docs           {api_url}/docs\n  Temporal Web UI    {settings.temporal_ui_url}")
    if new_key:
        print(
            f"  admin API key      {new_key}\n"
            f"                     (shown once; also saved in {admin_key_path(settings)})"
        )
    else:
        print(f"  admin API key      in {admin_key_path(settings)}")
    print("Press Ctrl-C to stop.\n", flush=True)


def up(settings: Settings) -> int:
    # Job inputs, datasets, the admin key: readable by this user only, and so is everything
    # the children write (they inherit the umask).
    os.umask(0o077)
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)
    upgrade(settings.database_url)
    new_key = asyncio.run(_prepare(settings))

    t_host, t_port = _host_port(settings.temporal_address)
    ui_port = urlparse(settings.temporal_ui_url).port or 8233
    env = {**os.environ, "JOBDECK_DATABASE_URL": settings.database_url}
    temporal = Child(
        "temporal",
        dev_server_command(
            db_file=settings.data_dir.resolve() / "temporal.db",
            ip=t_host,
            port=t_port,
            ui_port=ui_port,
        ),
    )
    try:
        children = app_children(settings, env)
    except ValueError as err:
        print(f"jobdeck could not start: {err}", file=sys.stderr)
        return 1
    if settings.api_processes > 1:
        # Made once here, not raced for by the API processes' first sign-ins.
        session_secret(settings)
    supervisor = Supervisor([temporal, *children])

    stopping = False

    def _on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        temporal_listens = (
            f"the Temporal server on {t_host}:{t_port}",
            partial(listens, t_host, t_port),
        )
        api_urls = [
            f"http://{settings.api_host}:{child.env['JOBDECK_API_PORT']}"
            for child in children
            if child.tier == "api" and child.env
        ]
        apis_answer = [
            (f"the API at {url}", partial(answers, f"{url}/healthz")) for url in api_urls
        ]

        def ready(waited: list[Child], checks: list[tuple[str, Callable[[], bool]]]) -> bool:
            return wait_until_ready(
                supervisor, waited, checks, timeout=60, stopped=lambda: stopping
            )

        supervisor.start(temporal)
        started = ready([temporal], [temporal_listens])
        if started:
            for child in children:
                supervisor.start(child)
            started = ready([temporal, *children], [temporal_listens, *apis_answer])
        if started:
            _say_up(settings, api_urls, new_key)
            while not stopping:
                crash_loop = supervisor.check()
                if crash_loop:
                    print(crash_loop, file=sys.stderr, flush=True)
                    return 1
                time.sleep(0.3)
        print("\nstopping jobdeck", flush=True)
        return 0
    except RuntimeError as err:
        print(f"jobdeck could not start: {err}", file=sys.stderr)
        return 1
    finally:
        supervisor.stop()
