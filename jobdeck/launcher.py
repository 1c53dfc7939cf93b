"""`jobdeck up`: the Temporal dev server, the worker and the API on one machine, started in
that order and stopped in the reverse order on Ctrl-C (or when any of them dies)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlparse

import httpx

from jobdeck.admin import admin_key_path, bootstrap
from jobdeck.config import Settings
from jobdeck.devserver import dev_server_command
from jobdeck.store.engine import Database
from jobdeck.store.migrate import upgrade

logger = logging.getLogger(__name__)


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


def _wait_for_port(host: str, port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the Temporal server exited with code {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


def _wait_for_http(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited with code {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer after {timeout:.0f} s")


def _stop(procs: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    for name, proc in reversed(procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop in 20 s; killing it", name)
                proc.kill()
                proc.wait()
        print(f"  stopped {name}", flush=True)


async def _prepare(settings: Settings) -> str | None:
    db = Database.connect(settings.database_url)
    try:
        return await bootstrap(settings, db)
    finally:
        await db.dispose()


def up(settings: Settings) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    new_key = asyncio.run(_prepare(settings))

    t_host, t_port = _host_port(settings.temporal_address)
    ui_port = urlparse(settings.temporal_ui_url).port or 8233
    env = {**os.environ, "JOBDECK_DATABASE_URL": settings.database_url}
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    stopping = False

    def _on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        temporal = subprocess.Popen(
            dev_server_command(
                db_file=settings.data_dir.resolve() / "temporal.db",
                ip=t_host,
                port=t_port,
                ui_port=ui_port,
            ),
            start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
        )
        procs.append(("temporal", temporal))
        _wait_for_port(t_host, t_port, temporal, timeout=60)
        for name in ("worker", "api"):
            proc = subprocess.Popen(
                [sys.executable, "-m", "jobdeck", name], env=env, start_new_session=True
            )
            procs.append((name, proc))
        api_url = f"http://{settings.api_host}:{settings.api_port}"
        _wait_for_http(f"{api_url}/healthz", procs[-1][1], timeout=60)

        print(
            f"\njobdeck is up\n  API and dashboard  {api_url}\n"
            f"  API docs           {api_url}/docs\n"
            f"  Temporal Web UI    {settings.temporal_ui_url}"
        )
        if new_key:
            print(
                f"  admin API key      {new_key}\n"
                f"                     (shown once; also saved in {admin_key_path(settings)})"
            )
        else:
            print(f"  admin API key      in {admin_key_path(settings)}")
        print("Press Ctrl-C to stop.\n", flush=True)

        while not stopping:
            for name, proc in procs:
                if proc.poll() is not None:
                    print(
                        f"{name} exited with code {proc.returncode}; stopping jobdeck",
                        file=sys.stderr,
                    )
                    return 1
            time.sleep(0.3)
        print("\nstopping jobdeck", flush=True)
        return 0
    except RuntimeError as err:
        print(f"jobdeck could not start: {err}", file=sys.stderr)
        return 1
    finally:
        _stop(procs)
