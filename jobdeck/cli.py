"""The `jobdeck` command: up, api, worker, migrate, jobs ..., admin ..."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

import httpx

from jobdeck.config import Settings, get_settings
from jobdeck.logs import configure_logging


def cmd_up(settings: Settings, _args: argparse.Namespace) -> int:
    from jobdeck.launcher import up

    return up(settings)


def cmd_api(settings: Settings, _args: argparse.Namespace) -> int:
    import uvicorn

    from jobdeck.api.app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level="info",
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


def _api_target(settings: Settings) -> tuple[str, str]:
    """The API's base URL and the caller's key (JOBDECK_API_URL / JOBDECK_API_KEY, or the
    admin key that `jobdeck up` saved here)."""
    from jobdeck.admin import admin_key_path

    key = os.environ.get("JOBDECK_API_KEY")
    if not key and admin_key_path(settings).exists():
        key = admin_key_path(settings).read_text().strip()
    if not key:
        raise SystemExit("no API key: set JOBDECK_API_KEY (or run `jobdeck up` once here)")
    base = os.environ.get("JOBDECK_API_URL", f"http://{settings.api_host}:{settings.api_port}")
    return base, key


def _api_client(settings: Settings) -> httpx.Client:
    base, key = _api_target(settings)
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _watch(settings: Settings, job_id: str | None) -> int:
    from jobdeck.watch import WatchError, watch

    base, key = _api_target(settings)
    try:
        status = asyncio.run(watch(base, key, job_id))
    except WatchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0 if status in (None, "completed") else 1


def _show(response: httpx.Response) -> int:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    if response.is_error:
        detail = body.get("detail") if isinstance(body, dict) else body
        print(f"error {response.status_code}: {detail}", file=sys.stderr)
        return 1
    print(json.dumps(body, indent=2))
    return 0


def _progress_text(job: dict[str, Any]) -> str:
    progress = job.get("progress") or {}
    if progress.get("percent") is None:
        return ""
    return (
        f"{progress['percent']:5.1f}% {progress.get('current')}/{progress.get('total')} "
        f"{progress.get('unit', '')}"
    )


def cmd_jobs(settings: Settings, args: argparse.Namespace) -> int:
    if args.jobs_command == "watch":
        return _watch(settings, args.id)
    with _api_client(settings) as client:
        if args.jobs_command == "list":
            params: dict[str, Any] = {"limit": args.limit}
            if args.status:
                params["status"] = args.status
            if args.type:
                params["type"] = args.type
            if args.q:
                params["q"] = args.q
            response = client.get("/api/jobs", params=params)
            if response.is_error or args.json:
                return _show(response)
            for job in response.json()["data"]:
                print(
                    f"{job['id']}  {job['status']:<9}  {job['type']:<18}  {job['name']}  "
                    f"{_progress_text(job)}"
                )
            return 0
        if args.jobs_command == "create":
            try:
                data = json.loads(args.data)
            except json.JSONDecodeError as err:
                print(f"--data is not JSON: {err}", file=sys.stderr)
                return 2
            body = {
                "type": args.type,
                "name": args.name,
                "data": data,
                "priority": args.priority,
                "description": args.description,
            }
            return _show(client.post("/api/jobs", json=body))
        if args.jobs_command == "get":
            return _show(client.get(f"/api/jobs/{args.id}"))
        if args.jobs_command == "events":
            return _show(client.get(f"/api/jobs/{args.id}/events"))
        if args.jobs_command == "cancel":
            return _show(client.patch(f"/api/jobs/{args.id}/cancel"))
        if args.jobs_command == "retry":
            return _show(client.post(f"/api/jobs/{args.id}/retry"))
    return 2


def cmd_admin(settings: Settings, args: argparse.Namespace) -> int:
    from jobdeck.admin import create_account, create_key
    from jobdeck.errors import JobdeckError
    from jobdeck.store.accounts import Role
    from jobdeck.store.engine import Database

    async def run() -> str:
        db = Database.connect(settings.database_url)
        try:
            if args.admin_command == "create-user":
                created = await create_account(
                    db,
                    organization=args.org,
                    email=args.email,
                    name=args.name or args.email,
                    role=Role(args.role),
                )
                return (
                    f"organization {created.organization_id}\nuser {created.user_id}\n"
                    f"API key (shown once): {created.key}"
                )
            key = await create_key(db, email=args.email, name=args.name)
            return f"API key (shown once): {key}"
        finally:
            await db.dispose()

    try:
        print(asyncio.run(run()))
    except JobdeckError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jobdeck", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run Temporal dev server, worker and API on this machine")
    sub.add_parser("api", help="run the API server")
    sub.add_parser("worker", help="run a worker")
    sub.add_parser("migrate", help="bring the database to the newest schema")

    jobs = sub.add_parser("jobs", help="list, create, inspect, cancel and retry jobs")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True)
    listing = jobs_sub.add_parser("list")
    listing.add_argument("--status")
    listing.add_argument("--type")
    listing.add_argument("-q", "--q")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true")
    create = jobs_sub.add_parser("create")
    create.add_argument("type")
    create.add_argument("name")
    create.add_argument("--data", default="{}", help="the job's input as JSON")
    create.add_argument("--priority", type=int, default=3)
    create.add_argument("--description")
    for name in ("get", "events", "cancel", "retry"):
        jobs_sub.add_parser(name).add_argument("id")
    watch = jobs_sub.add_parser("watch", help="live progress bars: one job, or every job")
    watch.add_argument("id", nargs="?")

    admin = sub.add_parser("admin", help="manage organizations, users and API keys")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    user = admin_sub.add_parser("create-user", help="a user (and its organization if new)")
    user.add_argument("--org", required=True, help="organization name")
    user.add_argument("--email", required=True)
    user.add_argument("--name")
    user.add_argument("--role", choices=["admin", "member"], default="member")
    key = admin_sub.add_parser("create-key", help="a new API key for a user")
    key.add_argument("--email", required=True)
    key.add_argument("--name", default="cli")
    return parser


COMMANDS = {
    "up": cmd_up,
    "api": cmd_api,
    "worker": cmd_worker,
    "migrate": cmd_migrate,
    "jobs": cmd_jobs,
    "admin": cmd_admin,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("up", "api", "worker", "migrate"):
        configure_logging()
    return COMMANDS[args.command](get_settings(), args)
