"""`jobdeck pipelines ...`: apply a spec file (create, or save a new version), list, show,
and run a pipeline by name (optionally watching the run to its end), through the API."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from jobdeck.cli.jobs import _api_client, _show, _watch
from jobdeck.config import Settings


def _find(client: httpx.Client, name: str) -> dict[str, Any] | None:
    response = client.get("/api/pipelines", params={"name": name, "archived": "true"})
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()["data"]
    return found[0] if found else None


def _errors(response: httpx.Response) -> int:
    body = response.json()
    for problem in body.get("errors") or []:
        print(f"  {problem['field']}: {problem['message']}", file=sys.stderr)
    if not body.get("errors"):
        print(f"error {response.status_code}: {body.get('detail')}", file=sys.stderr)
    return 1


def _apply(client: httpx.Client, args: argparse.Namespace) -> int:
    path = Path(args.file)
    text = path.read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    # A file is either a spec, or {name, description, spec}.
    if isinstance(document, dict) and "spec" in document:
        name = args.name or document.get("name")
        description = document.get("description")
        spec: Any = document["spec"]
    else:
        name, description, spec = args.name, None, text
    name = name or path.stem
    existing = _find(client, name)
    if existing is None:
        body = {"name": name, "spec": spec, **({"description": description} if description else {})}
        response = client.post("/api/pipelines", json=body)
    else:
        body = {"spec": spec, **({"description": description} if description else {})}
        response = client.put(f"/api/pipelines/{existing['id']}", json=body)
    if response.status_code == 422:
        print(f"{path}: the spec is not valid:", file=sys.stderr)
        return _errors(response)
    if response.is_error:
        return _show(response)
    saved = response.json()
    version = saved.get("latestVersion", saved.get("version"))
    pipeline_id = saved.get("id", saved.get("pipelineId"))
    print(f"{name}: version {version} ({pipeline_id})")
    return 0


def _inputs(pairs: list[str]) -> dict[str, Any]:
    """k=v pairs; a value that reads as JSON (a number, true, a list) is taken as JSON."""
    inputs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--input {pair!r}: write NAME=VALUE")
        try:
            inputs[key] = json.loads(value)
        except ValueError:
            inputs[key] = value
    return inputs


def _run(settings: Settings, client: httpx.Client, args: argparse.Namespace) -> int:
    pipeline = _find(client, args.name)
    if pipeline is None:
        print(f"error: no pipeline named {args.name!r}", file=sys.stderr)
        return 1
    body: dict[str, Any] = {"inputs": _inputs(args.input or [])}
    if args.version is not None:
        body["version"] = args.version
    response = client.post(f"/api/pipelines/{pipeline['id']}/run", json=body)
    if response.status_code == 422:
        return _errors(response)
    if response.is_error:
        return _show(response)
    job = response.json()
    print(f"run {job['id']} of {args.name} v{job['data']['version']}")
    if not args.watch:
        return 0
    return _watch(settings, job["id"])


def cmd_pipelines(settings: Settings, args: argparse.Namespace) -> int:
    with _api_client(settings) as client:
        command = args.pipelines_command
        if command == "apply":
            return _apply(client, args)
        if command == "run":
            return _run(settings, client, args)
        if command == "list":
            response = client.get("/api/pipelines", params={"limit": args.limit})
            if response.is_error:
                return _show(response)
            for p in response.json()["data"]:
                print(f"{p['id']}  v{p['latestVersion']}  {p['name']}")
            return 0
        pipeline = _find(client, args.name)
        if pipeline is None:
            print(f"error: no pipeline named {args.name!r}", file=sys.stderr)
            return 1
        return _show(client.get(f"/api/pipelines/{pipeline['id']}"))


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("pipelines", help="user-defined pipelines: apply, run, list, show")
    commands = parser.add_subparsers(dest="pipelines_command", required=True)
    apply = commands.add_parser(
        "apply", help="create a pipeline from a file, or save a new version"
    )
    apply.add_argument("file", help="YAML or JSON: a spec, or {name, description, spec}")
    apply.add_argument("--name", help="default: the file's name field, else its stem")
    run = commands.add_parser("run", help="start a run of the pipeline with this name")
    run.add_argument("name")
    run.add_argument("--input", action="append", metavar="NAME=VALUE", help="repeatable")
    run.add_argument("--version", type=int, help="default: the latest")
    run.add_argument("--watch", action="store_true", help="follow the run to its end")
    listing = commands.add_parser("list", help="the organization's pipelines")
    listing.add_argument("--limit", type=int, default=50)
    show = commands.add_parser("show", help="a pipeline with its latest spec")
    show.add_argument("name")
