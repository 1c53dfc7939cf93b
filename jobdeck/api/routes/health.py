"""Liveness, readiness and metrics, for load balancers, orchestrators and operators."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from jobdeck.api.deps import RuntimeDep
from jobdeck.api.metrics import CONTENT_TYPE
from jobdeck.store import jobs as job_store

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """The process can serve: the database and Temporal both answer."""
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(3), runtime.db.read() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as err:
        checks["database"] = f"unavailable: {type(err).__name__}"
    try:
        async with asyncio.timeout(3):
            await runtime.temporal.service_client.check_health()
        checks["temporal"] = "ok"
    except Exception as err:
        checks["temporal"] = f"unavailable: {type(err).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", response_class=Response)
async def metrics(request: Request, runtime: RuntimeDep) -> Response:
    """Prometheus text format: HTTP requests, jobs by type and status, feed subscribers."""
    async with runtime.db.read() as session:
        counts = await job_store.counts_by_type_and_status(session)
    body = request.app.state.metrics.render(counts, request.app.state.feed.hub.subscribers)
    return Response(body, media_type=CONTENT_TYPE)
