"""Liveness, readiness and metrics, for load balancers, orchestrators and operators."""

from __future__ import annotations

import asyncio
import hmac

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse, Response
from pydantic import SecretStr
from sqlalchemy import text

from jobdeck.api.deps import RuntimeDep
from jobdeck.api.metrics import CONTENT_TYPE, Metrics
from jobdeck.store import jobs as job_store
from jobdeck.store import limits as limit_store
from jobdeck.store import waits as wait_store

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


def _operator(request: Request, token: SecretStr | None) -> None:
    """With JOBDECK_METRICS_TOKEN set, only a bearer of that token reads /metrics."""
    if token is None:
        return
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "metrics are for operators: send 'Authorization: Bearer <JOBDECK_METRICS_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


@router.get("/metrics", response_class=Response)
async def metrics(request: Request, runtime: RuntimeDep) -> Response:
    """Prometheus text format: HTTP requests, jobs by type and status, feed subscribers,
    slots waited for and held, jobs' waits to start and rate-limit rejections by
    organization (every organization's: for operators; JOBDECK_METRICS_TOKEN guards it)."""
    _operator(request, runtime.settings.metrics_token)
    metrics: Metrics = request.app.state.metrics
    async with runtime.db.read() as session:
        counts = await job_store.counts_by_type_and_status(session)
        slots = await limit_store.slot_counts(session)
        async with metrics.waits_lock:  # two scrapes at once count each start once
            if metrics.waits_after is None:
                metrics.waited([], await wait_store.newest_event(session))
            else:
                waits, after = await wait_store.waits_after(session, after=metrics.waits_after)
                metrics.waited(waits, after)
    body = metrics.render(counts, request.app.state.feed.hub.subscribers, slots)
    return Response(body, media_type=CONTENT_TYPE)
