"""`jobdeck docs ...`: collections of documents through the API: list and create them,
upload files and .zip archives, start (and follow) their processing, ingest a folder or a
dataset's text column with a live bar, search them and export their chunks. A COLLECTION
is its id or its name, and so is a DATASET."""

from __future__ import annotations

import argparse
import codecs
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from jobdeck.cli.jobs import _api_client, _show, _watch
from jobdeck.config import Settings


class _Refused(Exception):
    pass


def _listed(client: httpx.Client, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every item of a paged list, page after page (a refusal is shown, then _Refused)."""
    cursor: str | None = None
    while True:
        response = client.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        if response.is_error:
            _show(response)
            raise _Refused
        body = response.json()
        yield from body["data"]
        cursor = body.get("nextCursor")
        if not cursor:
            return


def _collection_id(client: httpx.Client, wanted: str) -> str:
    """The id of the collection with this id or name."""
    for collection in _listed(client, "/api/collections", {"limit": 200}):
        if wanted in (collection["id"], collection["name"]):
            return str(collection["id"])
    print(f"error: no collection with the id or name {wanted!r}", file=sys.stderr)
    raise _Refused


def _dataset_id(client: httpx.Client, wanted: str) -> str:
    """The id of the dataset with this name (the newest of that name: a re-upload under the
    same name is the newer version) or this id."""
    for dataset in _listed(client, "/api/datasets", {"q": wanted, "limit": 200}):  # newest first
        if dataset["name"] == wanted:
            return str(dataset["id"])
    by_id = client.get(f"/api/datasets/{quote(wanted, safe='')}")
    if by_id.status_code == 404:
        print(f"error: no dataset with the id or name {wanted!r}", file=sys.stderr)
        raise _Refused
    if by_id.is_error:
        _show(by_id)
        raise _Refused
    return str(by_id.json()["id"])


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
    return _follow(settings, client, response.json())


# Files per upload request from a folder: well under the server's default limit of 1,000
# (JOBDECK_DOCUMENT_UPLOAD_MAX_FILES), and a refused batch costs little to resend.
_FOLDER_BATCH = 200


def _folder_files(folder: Path) -> Iterator[tuple[str, Path]]:
    """Every file under the folder (hidden ones left out) with the name it is uploaded as:
    its path inside the folder joined with '_', as a .zip's members are named."""
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        yield "_".join(relative.parts), path


def _upload_folder(client: httpx.Client, cid: str, folder: Path) -> list[str] | None:
    """Upload the folder's files in batches; their document ids, or None when a batch was
    refused (the batches before it stay stored: uploading the folder again replaces them)."""
    files = list(_folder_files(folder))
    if not files:
        print(f"error: {folder} has no files", file=sys.stderr)
        return None
    ids: list[str] = []
    for start in range(0, len(files), _FOLDER_BATCH):
        batch = files[start : start + _FOLDER_BATCH]
        with ExitStack() as stack:
            parts = [("file", (n, stack.enter_context(p.open("rb")))) for n, p in batch]
            response = client.post(f"/api/collections/{cid}/uploads", files=parts, timeout=None)
        if response.is_error:
            _show(response)
            return None
        body = response.json()
        ids.extend(d["id"] for d in body["data"])
        for s in body["skipped"]:
            print(f"skipped  {s['name']}: {s['reason']}")
        print(f"uploaded {start + len(batch)}/{len(files)} files", flush=True)
    return ids


def _ingest(settings: Settings, client: httpx.Client, args: argparse.Namespace) -> int:
    """A folder's files, or a dataset's rows, into a collection: the processing job started
    and followed with a live bar to its end."""
    if (args.folder is None) == (args.dataset is None):
        print("error: give a folder (DIR) or --dataset, one of the two", file=sys.stderr)
        return 2
    if args.dataset is not None and args.column is None:
        print("error: --dataset needs --column (the column with each row's text)", file=sys.stderr)
        return 2
    if args.dataset is None and (args.column is not None or args.title_column is not None):
        print("error: --column and --title-column go with --dataset", file=sys.stderr)
        return 2
    if args.folder is not None and not Path(args.folder).is_dir():
        print(f"error: {args.folder} is not a folder", file=sys.stderr)
        return 2
    cid = _collection_id(client, args.collection)
    body: dict[str, Any] = {"force": args.force, "allowedFailureRatio": args.allowed_failure_ratio}
    if args.dataset is not None:
        body["datasetId"] = _dataset_id(client, args.dataset)
        body["textColumn"] = args.column
        if args.title_column is not None:
            body["titleColumn"] = args.title_column
    else:
        ids = _upload_folder(client, cid, Path(args.folder))
        if ids is None:
            return 1
        if not ids:
            print(f"error: no document in {args.folder} (every file was skipped)", file=sys.stderr)
            return 1
        body["documentIds"] = ids
    # The API checks the dataset and its columns before it starts anything (422 otherwise).
    response = client.post(f"/api/collections/{cid}/ingest", json=body)
    if response.is_error:
        return _show(response)
    return _follow(settings, client, response.json())


def _follow(settings: Settings, client: httpx.Client, job: dict[str, Any]) -> int:
    """The job's live bar to its end, then one line with its outcome."""
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
            if command == "ingest":
                return _ingest(settings, client, args)
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
    ingest = docs_sub.add_parser(
        "ingest",
        help="a folder's files or a dataset's text column into a collection, with a live bar",
    )
    ingest.add_argument("folder", nargs="?", metavar="DIR", help="upload these files")
    ingest.add_argument("--collection", required=True, help="id or name")
    ingest.add_argument("--dataset", help="instead of DIR: each row a document (id or name)")
    ingest.add_argument("--column", help="with --dataset: the column holding the text")
    ingest.add_argument("--title-column", help="with --dataset: each row's document name")
    ingest.add_argument("--force", action="store_true", help="redo unchanged documents too")
    ingest.add_argument("--allowed-failure-ratio", type=float, default=0.1)
    search = docs_sub.add_parser("search", help="the chunks closest to a query")
    search.add_argument("collection", help="id or name")
    search.add_argument("query")
    search.add_argument("-k", "--k", type=int, default=5)
    search.add_argument("--json", action="store_true")
    export = docs_sub.add_parser("export", help="every chunk as JSON Lines")
    export.add_argument("collection", help="id or name")
    export.add_argument("--vectors", action="store_true", help="with the embeddings")
    export.add_argument("-o", "--output", help="a file (default: standard output)")
