"""`jobdeck up`'s supervisor, with stand-in children: a crashed child is restarted after a
backoff and said so; a child that keeps crashing is a crash loop, which stops everything."""

from __future__ import annotations

import sys
import time

import pytest

from jobdeck.launcher import Child, Supervisor

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
