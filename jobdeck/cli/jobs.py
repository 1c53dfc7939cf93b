"""`jobdeck jobs ...`: list, create, inspect, cancel, retry and watch jobs through the API."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

import httpx

from jobdeck.config import Settings


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


_TERMINAL = {"completed", "failed", "cancelled"}


def _logs(client: httpx.Client, args: argparse.Namespace) -> int:
    """Print a job's log lines; with --follow, poll for more until the job ends."""
    params: dict[str, Any] = {"after": 0, "limit": 1000}
    if args.level:
        params["level"] = args.level
    if args.q:
        params["q"] = args.q

    def drain() -> int | None:
        while True:
            response = client.get(f"/api/jobs/{args.id}/logs", params=params)
            if response.is_error:
                return _show(response)
            body = response.json()
            for line in body["data"]:
                print(f"{line['time']} {line['level']:<7} {line['step'] or '-'}: {line['message']}")
            sys.stdout.flush()
            params["after"] = body["nextAfter"]
            if len(body["data"]) < params["limit"]:
                return None

    try:
        while True:
            status: str | None = None
            if args.follow:
                response = client.get(f"/api/jobs/{args.id}")
                if response.is_error:
                    return _show(response)
                status = response.json()["status"]
            failed = drain()
            if failed is not None:
                return failed
            if not args.follow:
                return 0
            if status in _TERMINAL:
                # Lines still in a worker's queue land within a second or so.
                time.sleep(1.0)
                failed = drain()
                return failed if failed is not None else (0 if status == "completed" else 1)
            time.sleep(1.0)
    except KeyboardInterrupt:
        return 0


def cmd_jobs(settings: Settings, args: argparse.Namespace) -> int:
    if args.jobs_command == "watch":
        return _watch(settings, args.id)
    with _api_client(settings) as client:
        if args.jobs_command == "logs":
            return _logs(client, args)
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
                "dependsOn": args.depends_on,
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


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    create.add_argument(
        "--depends-on",
        action="append",
        default=[],
        metavar="ID",
        help="a job that must complete first (repeat for several)",
    )
    for name in ("get", "events", "cancel", "retry"):
        jobs_sub.add_parser(name).add_argument("id")
    logs = jobs_sub.add_parser("logs", help="a job's own log lines; -f follows it to its end")
    logs.add_argument("id")
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument("--level", choices=["debug", "info", "warning", "error", "critical"])
    logs.add_argument("-q", "--q", help="only lines containing this text")
    watch = jobs_sub.add_parser("watch", help="live progress bars: one job, or every job")
    watch.add_argument("id", nargs="?")
