"""`jobdeck schedules ...`: list, create (firing a job or a saved pipeline's run), show,
pause, resume, trigger and delete schedules through the API."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from jobdeck.cli.jobs import _api_client, _show
from jobdeck.config import Settings


def _line(schedule: dict[str, Any]) -> str:
    when = schedule["cron"] and f"cron {schedule['cron']} ({schedule['cronText']})"
    when = when or f"every {schedule['interval']} s"
    nxt = schedule["nextRuns"][0] if schedule["nextRuns"] else "-"
    pipeline = schedule.get("pipeline")
    what = (
        f"pipeline {pipeline['id']} v{pipeline['version']}" if pipeline else schedule["job"]["type"]
    )
    return (
        f"{schedule['id']}  {schedule['state']:<7}  next {nxt}  {schedule['name']}  "
        f"[{what}] {when} {schedule['timezone']}"
    )


def _json_arg(flag: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        print(f"{flag} is not JSON: {err}", file=sys.stderr)
        return None


def _action(args: argparse.Namespace) -> dict[str, Any] | None:
    """`job` (a job type) or `pipeline` (a saved pipeline's id), from the arguments."""
    if (args.type is None) == (args.pipeline is None):
        print("give a job type or --pipeline ID, one of the two", file=sys.stderr)
        return None
    if args.pipeline is not None:
        inputs = _json_arg("--inputs", args.inputs)
        if inputs is None:
            return None
        pipeline: dict[str, Any] = {
            "id": args.pipeline,
            "inputs": inputs,
            "priority": args.priority,
        }
        if args.job_name:
            pipeline["name"] = args.job_name
        if args.pipeline_version is not None:
            pipeline["version"] = args.pipeline_version
        return {"pipeline": pipeline}
    data = _json_arg("--data", args.data)
    if data is None:
        return None
    return {
        "job": {
            "type": args.type,
            "name": args.job_name or args.name,
            "data": data,
            "priority": args.priority,
        }
    }


def _create_body(args: argparse.Namespace) -> dict[str, Any] | None:
    action = _action(args)
    if action is None:
        return None
    body: dict[str, Any] = {
        "name": args.name,
        **action,
        "timezone": args.timezone,
        "overlap": args.overlap,
        "paused": args.paused,
    }
    optional = {
        "cron": args.cron,
        "interval": args.interval,
        "catchupWindow": args.catchup_window,
        "jitter": args.jitter,
        "endAt": args.end_at,
        "remainingRuns": args.remaining_runs,
        "note": args.note,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def cmd_schedules(settings: Settings, args: argparse.Namespace) -> int:
    with _api_client(settings) as client:
        command = args.schedules_command
        if command == "list":
            response = client.get("/api/schedules", params={"limit": args.limit})
            if response.is_error or args.json:
                return _show(response)
            for schedule in response.json()["data"]:
                print(_line(schedule))
            return 0
        if command == "create":
            body = _create_body(args)
            return 2 if body is None else _show(client.post("/api/schedules", json=body))
        if command == "get":
            return _show(client.get(f"/api/schedules/{args.id}"))
        if command in ("pause", "resume"):
            note = {"note": args.note} if args.note else None
            return _show(client.post(f"/api/schedules/{args.id}/{command}", json=note))
        if command == "trigger":
            return _show(client.post(f"/api/schedules/{args.id}/trigger"))
        if command == "delete":
            response = client.delete(f"/api/schedules/{args.id}")
            if response.is_error:
                return _show(response)
            print(f"deleted schedule {args.id}")
            return 0
    return 2


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    schedules = sub.add_parser(
        "schedules", help="list, create, pause, resume, trigger and delete schedules"
    )
    schedules_sub = schedules.add_subparsers(dest="schedules_command", required=True)
    listing = schedules_sub.add_parser("list")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true")
    create = schedules_sub.add_parser(
        "create", help="a schedule firing a job, or a saved pipeline's run, by cron or interval"
    )
    create.add_argument("name")
    create.add_argument("type", nargs="?", help="the job type it fires (or give --pipeline)")
    create.add_argument("--pipeline", metavar="ID", help="run this saved pipeline instead")
    create.add_argument("--inputs", default="{}", help="the pipeline run's inputs as JSON")
    create.add_argument(
        "--pipeline-version", type=int, help="the version each run uses (default: the latest now)"
    )
    when = create.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", help="five fields or @daily..., in --timezone")
    when.add_argument("--interval", type=int, help="seconds between runs")
    create.add_argument("--timezone", default="UTC", help="IANA name, e.g. Europe/Berlin")
    create.add_argument("--data", default="{}", help="the job's input as JSON")
    create.add_argument(
        "--job-name", help="each run's job name (default: the schedule's; the pipeline's)"
    )
    create.add_argument("--priority", type=int, default=3)
    create.add_argument(
        "--overlap",
        default="skip",
        choices=["skip", "bufferOne", "bufferAll", "cancelOther", "terminateOther", "allowAll"],
    )
    create.add_argument("--catchup-window", type=int, help="seconds (default 600)")
    create.add_argument("--jitter", type=int, help="seconds")
    create.add_argument("--end-at", help="ISO time after which it never runs")
    create.add_argument("--remaining-runs", type=int)
    create.add_argument("--paused", action="store_true")
    create.add_argument("--note")
    for name in ("get", "trigger", "delete"):
        schedules_sub.add_parser(name).add_argument("id")
    for name in ("pause", "resume"):
        command = schedules_sub.add_parser(name)
        command.add_argument("id")
        command.add_argument("--note", help="why")
