"""`jobdeck up --workers N --api-processes M`: which processes it runs, on which ports, how
bad counts are refused, and that a tier of processes stops together."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from jobdeck.cli import build_parser
from jobdeck.config import Settings
from jobdeck.launcher import Child, Supervisor, api_ports, app_children


def _settings(tmp_path: Path, **extra: object) -> Settings:
    return Settings(data_dir=tmp_path, **extra)  # type: ignore[arg-type]


def test_one_worker_and_one_api_by_default(tmp_path: Path) -> None:
    children = app_children(_settings(tmp_path, api_port=8100), {"X": "1"})
    assert [(c.name, c.tier) for c in children] == [("worker", "worker"), ("api", "api")]
    assert children[0].command[-2:] == ["jobdeck", "worker"]
    assert children[1].command[-2:] == ["jobdeck", "api"]
    assert children[1].env == {"X": "1", "JOBDECK_API_PORT": "8100"}


def test_n_workers_and_m_apis_on_successive_ports(tmp_path: Path) -> None:
    settings = _settings(tmp_path, api_port=8100, workers=3, api_processes=2)
    children = app_children(settings, {"JOBDECK_DATABASE_URL": "sqlite+aiosqlite:///x"})
    assert [c.name for c in children] == ["worker-1", "worker-2", "worker-3", "api-1", "api-2"]
    apis = [c for c in children if c.tier == "api"]
    assert [c.env and c.env["JOBDECK_API_PORT"] for c in apis] == ["8100", "8101"]
    # Every process shares the same database (and Temporal) settings.
    assert all(c.env and c.env["JOBDECK_DATABASE_URL"] == "sqlite+aiosqlite:///x" for c in children)
    assert api_ports(settings) == [8100, 8101]


def test_ports_past_65535_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="need ports up to 65536, beyond 65535"):
        api_ports(_settings(tmp_path, api_port=65535, api_processes=2))


def test_counts_come_from_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JOBDECK_WORKERS", "4")
    monkeypatch.setenv("JOBDECK_API_PROCESSES", "2")
    settings = Settings(data_dir=tmp_path)
    assert (settings.workers, settings.api_processes) == (4, 2)
    monkeypatch.setenv("JOBDECK_WORKERS", "0")
    with pytest.raises(ValueError, match="workers"):
        Settings(data_dir=tmp_path)


def test_up_flags_parse() -> None:
    args = build_parser().parse_args(["up", "--workers", "2", "--api-processes", "3"])
    assert (args.workers, args.api_processes) == (2, 3)
    args = build_parser().parse_args(["up"])
    assert (args.workers, args.api_processes) == (None, None)


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--workers", "0", "argument --workers: 0 is out of range: 1 to 64 processes"),
        ("--workers", "two", "argument --workers: 'two' is not a whole number"),
        ("--api-processes", "65", "argument --api-processes: 65 is out of range: 1 to 64"),
    ],
)
def test_bad_counts_are_refused_with_a_clear_message(
    capsys: pytest.CaptureFixture[str], flag: str, value: str, message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["up", flag, value])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


# On SIGTERM, notes when it came, then takes 1 s to exit: a worker finishing its tasks.
SLOW_TO_STOP = (
    "import pathlib, signal, sys, time\n"
    "def stop(*_):\n"
    "    pathlib.Path(sys.argv[1]).write_text(str(time.monotonic()))\n"
    "    time.sleep(1)\n"
    "    sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, stop)\n"
    "pathlib.Path(sys.argv[1] + '.ready').touch()\n"
    "time.sleep(60)\n"
)


def test_a_tier_stops_together(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    notes = [tmp_path / f"worker-{i}" for i in (1, 2, 3)]
    workers = [
        Child(note.name, [sys.executable, "-c", SLOW_TO_STOP, str(note)], tier="worker")
        for note in notes
    ]
    api = Child("api", [sys.executable, "-c", SLOW_TO_STOP, str(tmp_path / "api")], tier="api")
    supervisor = Supervisor([*workers, api])
    for child in [*workers, api]:
        supervisor.start(child)
    deadline = time.monotonic() + 30
    while not all(Path(f"{n}.ready").exists() for n in [*notes, tmp_path / "api"]):
        assert time.monotonic() < deadline, "the children never started"
        time.sleep(0.05)
    supervisor.stop()
    assert all(c.proc is not None and c.proc.poll() == 0 for c in [*workers, api])
    got = [float(note.read_text()) for note in notes]
    api_got = float((tmp_path / "api").read_text())
    # The api tier first, alone; then the three workers signalled at once, not 1 s apart.
    assert api_got + 1 <= min(got)
    assert max(got) - min(got) < 0.9, got
    out = capsys.readouterr().out
    assert [line.strip() for line in out.splitlines() if "stopped" in line] == [
        "stopped api",
        "stopped worker-3",
        "stopped worker-2",
        "stopped worker-1",
    ]
