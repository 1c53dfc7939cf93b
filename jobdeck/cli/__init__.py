"""The `jobdeck` command: up, api, worker, migrate, jobs ..., admin ..., replay."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from jobdeck.cli import admin, docs, jobs, pipelines, processes, replay, schedules
from jobdeck.config import Settings, get_settings
from jobdeck.logs import configure_logging

COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "up": processes.cmd_up,
    "api": processes.cmd_api,
    "worker": processes.cmd_worker,
    "migrate": processes.cmd_migrate,
    "jobs": jobs.cmd_jobs,
    "admin": admin.cmd_admin,
    "replay": replay.cmd_replay,
    "schedules": schedules.cmd_schedules,
    "pipelines": pipelines.cmd_pipelines,
    "docs": docs.cmd_docs,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jobdeck", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    processes.add_parsers(sub)
    jobs.add_parser(sub)
    admin.add_parser(sub)
    replay.add_parser(sub)
    schedules.add_parser(sub)
    pipelines.add_parser(sub)
    docs.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("up", "api", "worker", "migrate"):
        configure_logging()
    return COMMANDS[args.command](get_settings(), args)
