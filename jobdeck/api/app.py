"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic.json_schema import models_json_schema
from sqlalchemy.exc import DBAPIError
from temporalio.client import Client

from jobdeck import tracing
from jobdeck.api import text, ws
from jobdeck.api.chart_warmer import running_chart_warmer
from jobdeck.api.headers import ApiResponseHeaders
from jobdeck.api.key_watch import running_key_watch
from jobdeck.api.limits import BodySizeLimit
from jobdeck.api.metrics import Metrics, MetricsMiddleware
from jobdeck.api.routes import (
    accounts,
    collection_chunks,
    collection_uploads,
    collections,
    datasets,
    fairness,
    fine_tuning,
    health,
    jobs,
    models,
    notifications,
    operations,
    pipelines,
    schedules,
    session,
)
from jobdeck.api.routes.dashboard import router as dashboard_router
from jobdeck.api.schemas import Problem, ValidationProblem
from jobdeck.config import Settings, get_settings
from jobdeck.errors import (
    Conflict,
    InvalidInput,
    JobdeckError,
    NotFound,
    QuotaExceeded,
    Unavailable,
)
from jobdeck.events.feed import running_feed
from jobdeck.registry import JobTypeRegistry, load_registry
from jobdeck.runtime import open_runtime
from jobdeck.services.fine_tuning import FineTuningService
from jobdeck.services.jobs import JobControl
from jobdeck.store.engine import is_outage
from jobdeck.store.waits import newest_event

logger = logging.getLogger(__name__)
_REF = "#/components/schemas/"

_STATUS: dict[type[JobdeckError], int] = {
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    QuotaExceeded: 413,
    Unavailable: 503,
}


def _status_of(err: JobdeckError) -> int:
    for cls in type(err).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 400


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc if part != "body") or "body"


def _field(error: dict[str, Any]) -> str:
    """Where the error is; for unstorable text, down to the nested key (`data.a[2]`)."""
    path = (error.get("ctx") or {}).get("path")
    if error.get("type") == text.ERROR_TYPE and path:
        return str(path)
    return _location(error.get("loc", ()))


# Errors the handlers send that FastAPI cannot see, beyond the rules in `_document_problems`.
_NOT_FOUND_IN_BODY = {("post", "/api/keys")}  # userId: a user of the organization
_CONFLICTS = {("patch", "/api/jobs/{job_id}/cancel"), ("post", "/api/users")}


def _document_problems(path: str, method: str, operation: dict[str, Any]) -> None:
    """Document the `{detail}` errors an operation answers (tests/api/test_fuzz.py holds
    the document to them): 400, FastAPI's for a JSON body it cannot decode; 404, an id
    not found in the caller's organization; 409, a state that forbids the request, or an
    Idempotency-Key used before for a different one."""
    params = operation.get("parameters", [])
    errors: dict[str, str] = {}
    if "application/json" in operation.get("requestBody", {}).get("content", {}):
        errors["400"] = "The body cannot be read as JSON"
    if (method, path) in _NOT_FOUND_IN_BODY or any(p["in"] == "path" for p in params):
        errors["404"] = "Not found in the caller's organization"
    if (method, path) in _CONFLICTS or any(p["name"] == "Idempotency-Key" for p in params):
        errors["409"] = "Conflicts with the current state, or with an earlier request"
    content = {"application/json": {"schema": {"$ref": _REF + Problem.__name__}}}
    responses = operation.setdefault("responses", {})
    for status, description in errors.items():
        responses.setdefault(status, {"description": description, "content": content})


def _document_validation_errors(app: FastAPI) -> None:
    """Make the OpenAPI document tell the truth about errors: 422s are answered by the
    handler below, `{detail: str, errors: [{field, message}]}`, not FastAPI's
    `{detail: [...]}`; the other errors are `_document_problems`'."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        _, defs = models_json_schema(
            [(ValidationProblem, "serialization"), (Problem, "serialization")],
            ref_template=_REF + "{model}",
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(defs.get("$defs", {}))
        content = {"application/json": {"schema": {"$ref": _REF + ValidationProblem.__name__}}}
        for path, by_method in document.get("paths", {}).items():
            for method, operation in by_method.items():
                _document_problems(path, method, operation)
                response = operation.get("responses", {}).get("422")
                if response is not None:
                    response["content"] = content
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    settings: Settings | None = None,
    *,
    temporal: Client | None = None,
    registry: JobTypeRegistry | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    job_types = registry or load_registry(settings.job_type_modules)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(settings, temporal=temporal, for_api=True) as runtime:
            app.state.runtime = runtime
            async with runtime.db.read() as session:  # /metrics counts waits from here on
                app.state.metrics.waits_after = await newest_event(session)
            app.state.registry = job_types
            app.state.jobs = JobControl(runtime, job_types)
            app.state.fine_tuning = FineTuningService(runtime, app.state.jobs)
            async with (
                running_feed(runtime.db, settings) as feed,
                running_key_watch(runtime.db) as key_watch,
                running_chart_warmer(runtime.db),
            ):
                app.state.feed = feed
                app.state.key_watch = key_watch
                yield

    app = FastAPI(
        title="jobdeck",
        summary="Durable background jobs for AI operations",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(text.UnstorableTextGuard)
    app.add_middleware(ApiResponseHeaders)
    app.state.metrics = Metrics()
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    tracing.instrument_app(app)  # with tracing on (OTEL_*, jobdeck.tracing): a span a request

    @app.exception_handler(JobdeckError)
    async def _jobdeck_error(_: Request, err: JobdeckError) -> JSONResponse:
        extra = err.body if isinstance(err, QuotaExceeded) else {}
        return JSONResponse({"detail": err.detail, **extra}, status_code=_status_of(err))

    async def _database_error(request: Request, err: Exception) -> JSONResponse:
        if not is_outage(err):
            raise err  # a real fault: the server error it is
        store = "Redis" if isinstance(err, redis.exceptions.RedisError) else "the database"
        logger.warning(f"{store} unreachable", extra={"path": request.url.path})
        return JSONResponse(
            {"detail": f"{store} is unreachable right now; try again shortly"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(OSError, _database_error)
    # Where JOBDECK_REDIS_URL keeps the rate limits' buckets.
    app.add_exception_handler(redis.exceptions.ConnectionError, _database_error)
    app.add_exception_handler(redis.exceptions.TimeoutError, _database_error)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, err: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(e), "message": e.get("msg", "invalid")} for e in err.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return JSONResponse({"detail": detail, "errors": errors}, status_code=422)

    app.include_router(health.router)
    app.include_router(jobs.router)
    app.include_router(accounts.router)
    app.include_router(session.router)
    app.include_router(fine_tuning.router)
    app.include_router(models.router)
    app.include_router(datasets.router)
    app.include_router(collections.router)
    app.include_router(collection_uploads.router)
    app.include_router(collection_chunks.router)
    app.include_router(pipelines.router)
    app.include_router(schedules.router)
    app.include_router(notifications.router)
    app.include_router(fairness.router)
    app.include_router(operations.router)
    app.include_router(ws.router)
    app.include_router(dashboard_router)  # last: its pages and /assets/ only
    _document_validation_errors(app)
    return app
