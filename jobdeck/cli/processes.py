"""`jobdeck up | api | worker | migrate`: the processes of one machine, and the schema."""

from __future__ import annotations

import argparse
import asyncio

from jobdeck.config import Settings


def cmd_up(settings: Settings, _args: argparse.Namespace) -> int:
    from jobdeck.launcher import up

    return up(settings)


def cmd_api(settings: Settings, _args: argparse.Namespace) -> int:
    import uvicorn

    from jobdeck.api.access_log import log_config
    from jobdeck.api.app import create_app

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

    asyncio.run(run_worker(settings))
    return 0


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from jobdeck.store.migrate import upgrade

    upgrade(settings.database_url)
    print("database is at the newest schema")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("up", help="run Temporal dev server, worker and API on this machine")
    sub.add_parser("api", help="run the API server")
    sub.add_parser("worker", help="run a worker")
    sub.add_parser("migrate", help="bring the database to the newest schema")
