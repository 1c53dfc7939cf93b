"""`jobdeck docs ...`: collections of documents through the API: list and create them,
upload files and .zip archives, start (and follow) their processing, search them and
export their chunks. A COLLECTION is its id or its name."""

from __future__ import annotations

import argparse
import codecs
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from jobdeck.cli.jobs import _api_client, _show, _watch
from jobdeck.config import Settings


class _Refused(Exception):
    pass


def _collection_id(client: httpx.Client, wanted: str) -> str:
    """The id of the collection with this id or name."""
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        response = client.get("/api/collections", params=params)
        if response.is_error:
            _show(response)
            raise _Refused
        body = response.json()
        for collection in body["data"]:
            if wanted in (collection["id"], collection["name"]):
                return str(collection["id"])
        cursor = body.get("nextCursor")
        if not cursor:
            print(f"error: no collection with the id or name {wanted!r}", file=sys.stderr)
            raise _Refused


def _collections(client: httpx.Client, args: argparse.Namespace) -> int:
    response = client.get("/api/collections", params={"limit": args.limit})
    if response.is_error or args.json:
        return _show(response)
    for c in response.json()["data"]:
        embedding = c["embedding"]
        print(f"{c['id']}  {c['name']}  [{embedding['provider']}/{embedding['model']}]")
    return 0


def _create(client: httpx.Client, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "name": args.name,
        "embedding": {"provider": args.provider},
        "chunking": {"maxTokens": args.max_tokens, "overlap": args.overlap},
    }
    if args.model:
        body["embedding"]["model"] = args.model
    return _show(client.post("/api/collections", json=body))


def _upload(client: httpx.Client, args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.files]
    for path in paths:
        if not path.is_file():
            print(f"error: {path} is not a file (zip a folder to send it)", file=sys.stderr)
            return 2
    cid = _collection_id(client, args.collection)
    with ExitStack() as stack:
        # httpx reads each open file as it sends: nothing is loaded whole.
        files = [("file", (p.name, stack.enter_context(p.open("rb")))) for p in paths]
        response = client.post(f"/api/collections/{cid}/uploads", files=files, timeout=None)
    if response.is_error or args.json:
        return _show(response)
    body = response.json()
    for d in body["data"]:
        print(
            f"{d['id']}  {d['status']:<9}  {d['format']:<5}  {d['sizeBytes']:>10,}  {d['filename']}"
        )
    for s in body["skipped"]:
        print(f"skipped  {s['name']}: {s['reason']}")
    return 0


def _search(client: httpx.Client, args: argparse.Namespace) -> int:
    cid = _collection_id(client, args.collection)
    response = client.post(
        f"/api/collections/{cid}/search", json={"query": args.query, "k": args.k}
    )
    if response.is_error or args.json:
        return _show(response)
    for hit in response.json()["data"]:
        text = " ".join(hit["text"].split())
        print(f"{hit['score']:.3f}  {hit['filename']} p.{hit['page']}  {text[:160]}")
    return 0


def _process(settings: Settings, client: httpx.Client, args: argparse.Namespace) -> int:
    cid = _collection_id(client, args.collection)
    body = {"force": args.force, "allowedFailureRatio": args.allowed_failure_ratio}
    response = client.post(f"/api/collections/{cid}/ingest", json=body)
    if response.is_error or not args.follow:
        return _show(response)
    job = response.json()
    print(f"job {job['id']} started", flush=True)
    code = _watch(settings, job["id"])
    done = client.get(f"/api/jobs/{job['id']}")
    if done.is_error:
        return _show(done)
    final = done.json()
    result = final.get("result") or {}
    summary = ", ".join(
        f"{k} {result[k]}" for k in ("documents", "succeeded", "failed", "chunks") if k in result
    )
    print(f"job {final['id']} {final['status']}{': ' + summary if summary else ''}")
    if final.get("error"):
        print(f"error: {final['error'].get('message')}", file=sys.stderr)
    return code


def _export(client: httpx.Client, args: argparse.Namespace) -> int:
    cid = _collection_id(client, args.collection)
    params = {"format": "jsonl", "vectors": "true" if args.vectors else "false"}
    with client.stream("GET", f"/api/collections/{cid}/chunks", params=params) as response:
        if response.is_error:
            response.read()
            return _show(response)
        with ExitStack() as stack:
            out = stack.enter_context(Path(args.output).open("wb")) if args.output else None
            text = codecs.getincrementaldecoder("utf-8")()  # a piece may split a character
            for piece in response.iter_bytes():
                if out is not None:
                    out.write(piece)
                else:
                    sys.stdout.write(text.decode(piece))
    return 0


def cmd_docs(settings: Settings, args: argparse.Namespace) -> int:
    with _api_client(settings) as client:
        command = args.docs_command
        try:
            if command == "collections":
                return _collections(client, args)
            if command == "create":
                return _create(client, args)
            if command == "upload":
                return _upload(client, args)
            if command == "process":
                return _process(settings, client, args)
            if command == "search":
                return _search(client, args)
            if command == "export":
                return _export(client, args)
        except _Refused:
            return 1
    return 2


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    docs = sub.add_parser(
        "docs", help="document collections: create, upload, process, search, export"
    )
    docs_sub = docs.add_subparsers(dest="docs_command", required=True)
    listing = docs_sub.add_parser("collections", help="the collections")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true")
    create = docs_sub.add_parser("create", help="a new collection")
    create.add_argument("name")
    create.add_argument("--provider", default="local", choices=["local", "openai", "ollama"])
    create.add_argument("--model", help="default: the provider's own")
    create.add_argument("--max-tokens", type=int, default=256)
    create.add_argument("--overlap", type=int, default=32)
    upload = docs_sub.add_parser(
        "upload", help="files and .zip archives into a collection, in one request"
    )
    upload.add_argument("collection", help="id or name")
    upload.add_argument("files", nargs="+", metavar="FILE")
    upload.add_argument("--json", action="store_true")
    process = docs_sub.add_parser("process", help="start the document-processing job")
    process.add_argument("collection", help="id or name")
    process.add_argument("-f", "--follow", action="store_true", help="live progress to its end")
    process.add_argument("--force", action="store_true", help="redo unchanged documents too")
    process.add_argument("--allowed-failure-ratio", type=float, default=0.1)
    search = docs_sub.add_parser("search", help="the chunks closest to a query")
    search.add_argument("collection", help="id or name")
    search.add_argument("query")
    search.add_argument("-k", "--k", type=int, default=5)
    search.add_argument("--json", action="store_true")
    export = docs_sub.add_parser("export", help="every chunk as JSON Lines")
    export.add_argument("collection", help="id or name")
    export.add_argument("--vectors", action="store_true", help="with the embeddings")
    export.add_argument("-o", "--output", help="a file (default: standard output)")
