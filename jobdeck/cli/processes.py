"""`jobdeck up | api | worker | migrate`: the processes of one machine, and the schema."""

from __future__ import annotations

import argparse
import asyncio
import sys

from jobdeck import tracing
from jobdeck.config import Settings


def _tracing_set_up(service_name: str) -> bool:
    """Tracing as the OTEL_* variables ask (usually: off); False, said, if it cannot be."""
    try:
        tracing.setup_from_environment(service_name)
    except tracing.TracingError as err:
        print(f"jobdeck: {err}", file=sys.stderr)
        return False
    return True


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    from jobdeck.launcher import up

    counts = {
        field: value
        for field, value in (("workers", args.workers), ("api_processes", args.api_processes))
        if value is not None
    }
    return up(settings.model_copy(update=counts) if counts else settings)


def cmd_api(settings: Settings, _args: argparse.Namespace) -> int:
    import uvicorn

    from jobdeck.api.access_log import log_config
    from jobdeck.api.app import create_app

    if not _tracing_set_up("jobdeck-api"):  # before the app, its engine and client
        return 2
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level="info",
        log_config=log_config(),  # the access log without query strings
        ws_max_size=1_048_576,
        # Compressing each message again for each client costs more CPU than the feed's
        # small JSON saves in bandwidth (bench/fanout.py).
        ws_per_message_deflate=False,
        # Protocol pings find dead peers; the feed's own heartbeats serve browsers.
        ws_ping_interval=20,
        ws_ping_timeout=20,
    )
    return 0


def cmd_worker(settings: Settings, _args: argparse.Namespace) -> int:
    from jobdeck.worker import run_worker

    if not _tracing_set_up("jobdeck-worker"):
        return 2
    asyncio.run(run_worker(settings))
    return 0


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from jobdeck.store.migrate import upgrade

    upgrade(settings.database_url)
    print("database is at the newest schema")
    return 0


def _process_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= count <= 64:
        raise argparse.ArgumentTypeError(f"{count} is out of range: 1 to 64 processes")
    return count


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = sub.add_parser("up", help="run Temporal dev server, worker and API on this machine")
    up.add_argument(
        "--workers",
        type=_process_count,
        metavar="N",
        help="run N workers (default: JOBDECK_WORKERS, 1)",
    )
    up.add_argument(
        "--api-processes",
        type=_process_count,
        metavar="M",
        help="run M API processes on successive ports from JOBDECK_API_PORT "
        "(default: JOBDECK_API_PROCESSES, 1)",
    )
    sub.add_parser("api", help="run the API server")
    sub.add_parser("worker", help="run a worker")
    sub.add_parser("migrate", help="bring the database to the newest schema")
