"""A fake Ollama HTTP API: pull, create, blobs, tags, show, delete, with NDJSON streams.

    app = create_ollama_fake()
    control = app.state.control       # OllamaControl: models, blobs, counters, faults
    httpx.AsyncClient(base_url=url).stream("POST", "/api/pull", json={"model": "llama3.2"})

It downloads nothing and trains nothing: a pull reports byte progress for a pretend library
(`control.state.library`), a create records the model. By hand:
`python -m tests.fakes.ollama_server --port 11434`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from tests.fakes.clock import FakeClock
from tests.fakes.ollama_state import (
    LocalModel,
    OllamaControl,
    OllamaState,
    normalize,
    rfc3339,
    sha256,
)
from tests.fakes.ollama_streams import BadRequest, Line, Streams, check_create

DIGEST = re.compile(r"^sha256[:-][0-9a-fA-F]{64}$")


class _Reply(Exception):
    def __init__(self, status: int, error: str) -> None:
        self.status, self.error = status, error


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        raise _Reply(400, "missing request body")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise _Reply(400, str(exc)) from None
    if not isinstance(body, dict):
        raise _Reply(400, "json: cannot unmarshal into Go value of type api.Request")
    return body


def _model_name(body: dict[str, Any]) -> str:
    name = body.get("model") or body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _Reply(400, "invalid model name")
    return normalize(name)


def create_ollama_fake(
    clock: FakeClock | None = None,
    *,
    installed: tuple[str, ...] = (),
    line_delay: float = 0.0,
    pull_chunks: int = 4,
) -> FastAPI:
    """The fake Ollama app; `app.state.control` is its `OllamaControl`.

    `installed` names library models already on the fake's disk (e.g. `("llama3.2",)`).
    """
    state = OllamaState(clock or FakeClock(speed=1.0))
    control = OllamaControl(state, line_delay=line_delay, pull_chunks=pull_chunks)
    for name in installed:
        state.install(name)
    app = FastAPI(title="fake Ollama", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.control = control
    streams = Streams(control)

    def endpoint(name: str) -> Any:
        async def gate() -> None:
            control.calls[name] += 1
            delay = control.take_delay(name)
            if delay:
                await asyncio.sleep(delay)
            fault = control.take_fault(name)
            if fault is not None:
                raise _Reply(fault.status, str(fault.body.get("error", "")))

        return Depends(gate)

    @app.exception_handler(_Reply)
    async def reply(request: Request, exc: _Reply) -> JSONResponse:
        return JSONResponse({"error": exc.error}, status_code=exc.status)

    async def respond(name: str, lines: Iterator[Line], stream: bool) -> Response:
        """Ollama's streamResponse/waitForStream: an error before any line is an HTTP error;
        after that it is an `{"error": ...}` line in a 200 stream."""
        fault = control.take_stream_fault(name)
        cut = fault.after_lines if fault else -1
        first = next(lines, None)
        if first is None:
            return JSONResponse({"error": "unexpected end of progress response"}, status_code=500)
        if "error" in first or cut == 0:
            return _failure(first, fault.error if fault else "")
        if not stream:
            last, sent = first, 1
            for line in lines:
                if "error" in line or sent == cut:
                    return _failure(line, fault.error if fault else "")
                last, sent = line, sent + 1
            return JSONResponse(last)

        async def ndjson() -> AsyncIterator[bytes]:
            sent = 0
            for line in _chain(first, lines):
                if control.line_delay:
                    await asyncio.sleep(control.line_delay)
                if sent == cut and fault is not None:
                    line = {"error": fault.error}
                if "error" in line:
                    yield _ndjson({"error": line["error"]})
                    return
                yield _ndjson(line)
                sent += 1

        return StreamingResponse(ndjson(), media_type="application/x-ndjson")

    @app.get("/")
    async def root() -> PlainTextResponse:
        return PlainTextResponse("Ollama is running")

    @app.get("/api/version")
    async def version() -> dict[str, str]:
        return {"version": "0.0.0-fake"}

    @app.post("/api/pull", dependencies=[endpoint("pull")])
    async def pull(request: Request) -> Response:
        body = await _body(request)
        name = _model_name(body)
        return await respond("pull", streams.pull(name), body.get("stream") is not False)

    @app.post("/api/create", dependencies=[endpoint("create")])
    async def create(request: Request) -> Response:
        body = await _body(request)
        name = _model_name(body)
        try:
            check_create(body)
        except BadRequest as exc:
            raise _Reply(400, str(exc)) from None
        lines = streams.create(name, body)
        return await respond("create", lines, body.get("stream") is not False)

    def blob_key(digest: str) -> str:
        if not DIGEST.match(digest):
            raise _Reply(400, "invalid digest format")
        return "sha256:" + digest[7:]

    @app.head("/api/blobs/{digest}", dependencies=[endpoint("blobs.head")])
    async def blob_exists(digest: str) -> Response:
        return Response(status_code=200 if blob_key(digest) in state.blobs else 404)

    @app.post("/api/blobs/{digest}", dependencies=[endpoint("blobs.create")])
    async def create_blob(digest: str, request: Request) -> Response:
        key = blob_key(digest)
        if key in state.blobs:
            return Response(status_code=200)
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > state.max_blob_bytes:
                raise _Reply(413, f"blob is larger than {state.max_blob_bytes} bytes")
        actual = sha256(bytes(data))
        if actual != key:
            raise _Reply(400, f'digest mismatch, expected "{key}", got "{actual}"')
        state.blobs[key] = bytes(data)
        return Response(status_code=201)

    @app.get("/api/tags", dependencies=[endpoint("tags")])
    async def tags() -> dict[str, Any]:
        newest = reversed(list(state.models.values()))  # ties: the later created first
        models = sorted(newest, key=lambda m: m.modified_at, reverse=True)
        return {"models": [model.tag() for model in models]}

    def local(body: dict[str, Any]) -> LocalModel:
        name = _model_name(body)
        model = state.models.get(name)
        if model is None:
            raise _Reply(404, f"model '{body.get('model') or body.get('name')}' not found")
        return model

    @app.post("/api/show", dependencies=[endpoint("show")])
    async def show(request: Request) -> dict[str, Any]:
        model = local(await _body(request))
        shown: dict[str, Any] = {
            "license": "\n".join(model.license),
            "modelfile": model.modelfile(),
            "parameters": model.parameters_text(),
            "template": model.template,
            "system": model.system,
            "details": model.details(),
            "model_info": {"general.architecture": model.base.family},
            "capabilities": ["completion"],
            "modified_at": rfc3339(model.modified_at),
        }
        if model.messages:
            shown["messages"] = model.messages
        return {k: v for k, v in shown.items() if v != ""}

    @app.delete("/api/delete", dependencies=[endpoint("delete")])
    async def delete(request: Request) -> Response:
        model = local(await _body(request))
        del state.models[model.name]
        return Response(status_code=200)

    return app


def _failure(line: Line, scripted: str) -> JSONResponse:
    """An error answered before streaming: its own status (Go's default 500), or a scripted
    stream fault's message when `line` is an ordinary progress line."""
    if "error" not in line:
        return JSONResponse({"error": scripted}, status_code=500)
    status = line.get("status")
    code = status if isinstance(status, int) else 500
    return JSONResponse({"error": line["error"]}, status_code=code)


def _ndjson(line: Line) -> bytes:
    """One line as Go's encoder writes it: compact JSON and a newline."""
    return (json.dumps(line, separators=(",", ":")) + "\n").encode()


def _chain(first: Line, rest: Iterator[Line]) -> Iterator[Line]:
    yield first
    yield from rest


def control_of(app: FastAPI) -> OllamaControl:
    """The `OllamaControl` of an app made by `create_ollama_fake`, typed."""
    control: OllamaControl = app.state.control
    return control


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Run the fake Ollama API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument(
        "--speed", type=float, default=1.0, help="stream pace: lines come every 0.2/speed seconds"
    )
    parser.add_argument(
        "--install", action="append", default=[], help="library model to preinstall"
    )
    args = parser.parse_args(argv)
    delay = 0.2 / args.speed if args.speed > 0 else 0.0
    app = create_ollama_fake(FakeClock(speed=1.0), installed=tuple(args.install), line_delay=delay)
    library = ", ".join(control_of(app).state.library)
    print(f"fake Ollama on http://{args.host}:{args.port} (pullable: {library}); not a real Ollama")
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
