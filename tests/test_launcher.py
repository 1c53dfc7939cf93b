"""`jobdeck up`'s supervisor, with stand-in children: a crashed child is restarted after a
backoff and said so; a child that keeps crashing is a crash loop, which stops everything;
`up` is ready only when every child runs and every check passes at one moment."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from jobdeck.launcher import Child, Supervisor, wait_until_ready

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
CRASHER = [sys.executable, "-c", "import sys; sys.exit(3)"]


def _run_until(supervisor: Supervisor, done: float) -> str | None:
    deadline = time.monotonic() + done
    while time.monotonic() < deadline:
        reason = supervisor.check()
        if reason:
            return reason
        time.sleep(0.02)
    return None


def test_a_killed_child_is_restarted_and_said(capsys: pytest.CaptureFixture[str]) -> None:
    worker = Child("worker", SLEEPER)
    supervisor = Supervisor([worker], first_backoff_s=0.1)
    first = supervisor.start(worker)
    try:
        first.kill()
        first.wait()
        assert _run_until(supervisor, 1.0) is None
        assert worker.proc is not None and worker.proc.pid != first.pid
        assert worker.proc.poll() is None  # the new one runs
        err = capsys.readouterr().err
        assert "worker exited with code -9; restarting it in 0 s" in err
        assert "restarted worker" in err
    finally:
        supervisor.stop()
    assert worker.proc.poll() is not None
    assert "stopped worker" in capsys.readouterr().out


def test_a_crash_loop_stops_everything(capsys: pytest.CaptureFixture[str]) -> None:
    api = Child("api", CRASHER)
    other = Child("worker", SLEEPER)
    supervisor = Supervisor([other, api], window_s=30, max_restarts=3, first_backoff_s=0.01)
    supervisor.start(other)
    supervisor.start(api)
    try:
        reason = _run_until(supervisor, 10.0)
    finally:
        supervisor.stop()
    assert reason is not None
    assert reason.startswith("api exited with code 3, 3 times within 30 s: a crash loop")
    assert len(api.starts) == 3
    assert other.proc is not None and other.proc.poll() is not None  # stopped too
    err = capsys.readouterr().err
    assert err.count("api exited with code 3; restarting it") == 2


def _dies_first_time(marker: Path) -> list[str]:
    """A child that exits with code 2 on its first start and runs on the next (as the dev
    server does when it loses the race for one of the ports it picks for itself)."""
    script = (
        "import pathlib, sys, time\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if not marker.exists():\n"
        "    marker.touch()\n"
        "    sys.exit(2)\n"
        "time.sleep(60)\n"
    )
    return [sys.executable, "-c", script]


@contextmanager
def _supervised(*children: Child, **options: Any) -> Iterator[Supervisor]:
    """A supervisor of `children`, each started, stopped at the end."""
    supervisor = Supervisor(list(children), **options)
    for child in children:
        supervisor.start(child)
    try:
        yield supervisor
    finally:
        supervisor.stop()


def test_ready_waits_for_a_child_that_died_to_be_restarted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    temporal = Child("temporal", _dies_first_time(tmp_path / "started-once"))
    worker = Child("worker", SLEEPER)
    with _supervised(temporal, worker, first_backoff_s=0.1) as supervisor:
        first = temporal.proc
        assert first is not None
        # The check passes once the first start has died, as the API answered its health
        # check only after the dev server had exited: the wait must see that and wait on.
        died = ("the API answers", lambda: first.poll() is not None)
        assert wait_until_ready(supervisor, [temporal, worker], [died], timeout=20)
        assert len(temporal.starts) == 2
        assert temporal.proc is not None and temporal.proc.poll() is None
    err = capsys.readouterr().err
    assert "temporal exited with code 2; restarting it in 0 s" in err
    assert "restarted temporal" in err


def test_ready_names_what_never_came_up() -> None:
    api = Child("api", SLEEPER)
    with (
        _supervised(api) as supervisor,
        pytest.raises(RuntimeError, match=r"not ready after 1 s: the API at http://x"),
    ):
        wait_until_ready(supervisor, [api], [("the API at http://x", lambda: False)], 1)


def test_ready_ends_on_a_crash_loop() -> None:
    temporal = Child("temporal", CRASHER)
    with (
        _supervised(temporal, max_restarts=3, first_backoff_s=0.01) as supervisor,
        pytest.raises(RuntimeError, match=r"temporal exited with code 3, 3 times"),
    ):
        wait_until_ready(supervisor, [temporal], [("listens", lambda: False)], timeout=20)


def test_ready_gives_up_at_ctrl_c() -> None:
    api = Child("api", SLEEPER)
    with _supervised(api) as supervisor:
        began = time.monotonic()
        ready = wait_until_ready(
            supervisor, [api], [("never", lambda: False)], timeout=30, stopped=lambda: True
        )
        waited = time.monotonic() - began
    assert ready is False
    assert waited < 5  # at once, not after the 30 s timeout
