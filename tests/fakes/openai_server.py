"""A fake OpenAI API (files and fine-tuning) that the real `openai` SDK talks to unchanged.

    app = create_openai_fake(FakeClock())          # frozen clock: tests move it
    control = app.state.control                    # FakeControl: clock, jobs, counters, faults
    openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="sk-test-fake")

By hand: `python -m tests.fakes.openai_server --port 8787 --speed 60`.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from tests.fakes.clock import FakeClock
from tests.fakes.openai_control import FakeControl, error_body
from tests.fakes.openai_jobs import TERMINAL, Timeline
from tests.fakes.openai_state import ApiError, OpenAIState

MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with "
    "blank username) if you're accessing the API from your browser and are prompted for a "
    "username and password. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)


class _Reply(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        self.status, self.body, self.headers = status, body, headers


def _masked(key: str) -> str:
    """How OpenAI echoes a wrong key: never the whole of it."""
    return key[:3] + "*" * 4 + key[-4:] if len(key) > 8 else "*" * len(key)


def _limit(request: Request, default: int) -> int:
    raw = request.query_params.get("limit")
    try:
        limit = default if raw is None else int(raw)
    except ValueError:
        message = f"Invalid 'limit': expected an integer, got {raw!r}"
        raise ApiError(400, message, param="limit") from None
    if limit < 1:
        raise ApiError(400, "Invalid 'limit': must be at least 1", param="limit")
    return limit


def _page(items: list[dict[str, Any]], after: str | None, limit: int) -> dict[str, Any]:
    start = 0
    if after:
        ids = [item["id"] for item in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    data = items[start : start + limit]
    return {"object": "list", "data": data, "has_more": start + limit < len(items)}


def _metadata_filter(request: Request) -> Callable[[dict[str, str] | None], bool]:
    """`metadata[k]=v` pairs must all match; `metadata=null` selects jobs without metadata."""
    wanted: dict[str, str] = {}
    want_null = False
    for key, value in request.query_params.multi_items():
        if key.startswith("metadata[") and key.endswith("]"):
            wanted[key[len("metadata[") : -1]] = value
        elif key == "metadata" and value == "null":
            want_null = True
    if want_null and wanted:
        raise ApiError(400, "Do not combine metadata=null with metadata[k]=v", param="metadata")
    if want_null:
        return lambda metadata: not metadata
    return lambda metadata: all((metadata or {}).get(k) == v for k, v in wanted.items())


def create_openai_fake(
    clock: FakeClock | None = None,
    *,
    api_key: str = "sk-test-fake",
    timeline: Timeline | None = None,
    organization_id: str = "org-fakejobdeck0000000000000",
    organization_name: str = "jobdeck-fake",
    fine_tunable_models: tuple[str, ...] | None = None,
    max_file_bytes: int = 64 * 1024 * 1024,
) -> FastAPI:
    """The fake OpenAI app; `app.state.control` is its `FakeControl`.

    `clock` defaults to a real-time `FakeClock(speed=1)`; pass a frozen one in tests.
    `fine_tunable_models=None` accepts any model name.
    """
    state = OpenAIState(
        clock or FakeClock(speed=1.0),
        timeline=timeline,
        organization_id=organization_id,
        organization_name=organization_name,
        max_file_bytes=max_file_bytes,
        fine_tunable_models=fine_tunable_models,
    )
    control = FakeControl(state)
    app = FastAPI(title="fake OpenAI", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.control = control

    def endpoint(name: str) -> Any:
        async def gate(request: Request) -> None:
            control.calls[name] += 1
            delay = control.take_delay(name)
            if delay:
                await asyncio.sleep(delay)
            header = request.headers.get("authorization", "")
            if not header.startswith("Bearer ") or not header[7:].strip():
                raise ApiError(401, MISSING_KEY)
            given = header[7:].strip()
            if not secrets.compare_digest(given, api_key):
                message = (
                    f"Incorrect API key provided: {_masked(given)}. You can find your API key "
                    "at https://platform.openai.com/account/api-keys."
                )
                raise ApiError(401, message, code="invalid_api_key")
            fault = control.take_fault(name)
            if fault is not None:
                raise _Reply(fault.status, fault.render(request.headers), fault.headers)

        return Depends(gate)

    @app.middleware("http")
    async def request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers["x-request-id"] = "req_" + secrets.token_hex(16)
        response.headers["openai-organization"] = organization_name
        return response

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(_Reply)
    async def scripted(request: Request, exc: _Reply) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def not_found(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = f"Invalid URL ({request.method} {request.url.path})"
        return JSONResponse(
            error_body(message, "invalid_request_error"), status_code=exc.status_code
        )

    # -- files ------------------------------------------------------------------------

    @app.post("/v1/files", dependencies=[endpoint("files.create")])
    async def create_file(request: Request) -> dict[str, Any]:
        async with request.form() as form:
            upload, purpose = form.get("file"), form.get("purpose")
            if not isinstance(upload, UploadFile):
                raise ApiError(400, "Missing required parameter: 'file'.", param="file")
            if not isinstance(purpose, str):
                raise ApiError(400, "Missing required parameter: 'purpose'.", param="purpose")
            content = await upload.read(state.max_file_bytes + 1)
            if len(content) > state.max_file_bytes:
                raise ApiError(
                    413, f"File is larger than {state.max_file_bytes} bytes", param="file"
                )
            stored = state.add_file(upload.filename or "upload", purpose, content)
        return stored.to_json()

    @app.get("/v1/files", dependencies=[endpoint("files.list")])
    async def list_files(request: Request) -> dict[str, Any]:
        purpose = request.query_params.get("purpose")
        files = [f.to_json() for f in state.files.values() if purpose in (None, f.purpose)]
        if request.query_params.get("order", "desc") == "desc":
            files.reverse()
        page = _page(files, request.query_params.get("after"), _limit(request, 10000))
        page["first_id"] = page["data"][0]["id"] if page["data"] else None
        page["last_id"] = page["data"][-1]["id"] if page["data"] else None
        return page

    @app.get("/v1/files/{file_id}", dependencies=[endpoint("files.retrieve")])
    async def retrieve_file(file_id: str) -> dict[str, Any]:
        return state.file(file_id).to_json()

    @app.get("/v1/files/{file_id}/content", dependencies=[endpoint("files.content")])
    async def file_content(file_id: str) -> Response:
        return Response(state.file(file_id).content, media_type="application/octet-stream")

    @app.delete("/v1/files/{file_id}", dependencies=[endpoint("files.delete")])
    async def delete_file(file_id: str) -> dict[str, Any]:
        del state.files[state.file(file_id).id]
        return {"id": file_id, "object": "file", "deleted": True}

    # -- fine-tuning jobs -------------------------------------------------------------

    @app.post("/v1/fine_tuning/jobs", dependencies=[endpoint("jobs.create")])
    async def create_job(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "We could not parse the JSON body of your request.") from None
        return state.create_job(body).to_json(state.error_form)

    @app.get("/v1/fine_tuning/jobs", dependencies=[endpoint("jobs.list")])
    async def list_jobs(request: Request) -> dict[str, Any]:
        keep = _metadata_filter(request)
        jobs = [j.to_json(state.error_form) for j in state.all_jobs() if keep(j.metadata)]
        return _page(jobs, request.query_params.get("after"), _limit(request, 20))

    @app.get("/v1/fine_tuning/jobs/{job_id}", dependencies=[endpoint("jobs.retrieve")])
    async def retrieve_job(job_id: str) -> dict[str, Any]:
        return state.job(job_id).to_json(state.error_form)

    @app.post("/v1/fine_tuning/jobs/{job_id}/cancel", dependencies=[endpoint("jobs.cancel")])
    async def cancel_job(job_id: str) -> dict[str, Any]:
        job = state.job(job_id)
        if job.status in TERMINAL:
            message = f"Job {job_id} has already {job.status} and cannot be cancelled."
            raise ApiError(400, message, param="fine_tuning_job_id")
        job.cancel(state.clock.now())
        return job.to_json(state.error_form)

    @app.get("/v1/fine_tuning/jobs/{job_id}/events", dependencies=[endpoint("jobs.list_events")])
    async def list_events(job_id: str, request: Request) -> dict[str, Any]:
        events = list(reversed(state.job(job_id).events))
        return _page(events, request.query_params.get("after"), _limit(request, 20))

    @app.get(
        "/v1/fine_tuning/jobs/{job_id}/checkpoints", dependencies=[endpoint("jobs.checkpoints")]
    )
    async def list_checkpoints(job_id: str, request: Request) -> dict[str, Any]:
        checkpoints = list(reversed(state.job(job_id).checkpoints))
        page = _page(checkpoints, request.query_params.get("after"), _limit(request, 10))
        page["first_id"] = page["data"][0]["id"] if page["data"] else None
        page["last_id"] = page["data"][-1]["id"] if page["data"] else None
        return page

    return app


def control_of(app: FastAPI) -> FakeControl:
    """The `FakeControl` of an app made by `create_openai_fake`, typed."""
    control: FakeControl = app.state.control
    return control


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Run the fake OpenAI fine-tuning API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--speed", type=float, default=1.0, help="fake seconds per real second")
    parser.add_argument("--api-key", default="sk-test-fake")
    parser.add_argument("--step-seconds", type=float, default=Timeline.step_s)
    args = parser.parse_args(argv)
    timeline = Timeline(step_s=args.step_seconds)
    app = create_openai_fake(FakeClock(speed=args.speed), api_key=args.api_key, timeline=timeline)
    print(
        f"fake OpenAI on http://{args.host}:{args.port}/v1 (api key {args.api_key!r}, "
        f"clock x{args.speed}); not the real OpenAI"
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
