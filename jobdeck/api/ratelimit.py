"""The API's rate limits: token buckets per API key and per organization, kept in the
database (or in Redis, with JOBDECK_REDIS_URL) so that every API process draws from the
same buckets (jobdeck/fairness/shared.py).

A request that creates something (a job, a retry, a fine-tune or a dataset validation: all
job creations; an upload) takes one token from each of its buckets before anything is read
or written, all or none in one transaction; with any bucket empty it gets a 429 with
`Retry-After` and the `RateLimit-*` headers (IETF draft "RateLimit header fields for
HTTP") and nothing is created. /metrics counts the refusals by organization and bucket kind.
"""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta
from typing import Any

from fastapi import Depends, HTTPException, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from jobdeck.api.deps import CurrentUser, RuntimeDep
from jobdeck.api.metrics import Metrics
from jobdeck.api.schemas import Problem
from jobdeck.clock import utcnow
from jobdeck.config import Settings
from jobdeck.fairness.bucket import MILLI, Bucket
from jobdeck.fairness.shared import Draw, SharedBuckets
from jobdeck.store import limits as limit_store
from jobdeck.store.accounts import Principal

CREATE, UPLOAD = "create", "upload"
_WHAT = {CREATE: "job creations", UPLOAD: "uploads"}
# What was limited, as /metrics labels a rejection (jobdeck_rate_limited_total{limit=}).
_METRIC = {CREATE: "creates", UPLOAD: "uploads"}
_PER = {"key": "per_key", "org": "per_organization"}
SOCKETS_PER_KEY = "sockets_per_key"


def limit_label(bucket: Bucket) -> str:
    """The bucket's kind without its key or organization: 'creates_per_key'."""
    action, scope, _ = bucket.key.split(":", 2)
    return f"{_METRIC[action]}_{_PER[scope]}"


def buckets(settings: Settings, principal: Principal, action: str) -> list[Bucket]:
    """The buckets a request of this kind draws from (a rate of 0 is no limit)."""
    per_key, per_org = (
        (settings.rate_creates_per_minute_key, settings.rate_creates_per_minute_org)
        if action == CREATE
        else (settings.rate_uploads_per_minute_key, settings.rate_uploads_per_minute_org)
    )
    found = [
        Bucket(f"{_WHAT[action]} per API key", f"{action}:key:{principal.key_id}", per_key, 0),
        Bucket(
            f"{_WHAT[action]} per organization",
            f"{action}:org:{principal.organization_id}",
            per_org,
            0,
        ),
    ]
    return [
        Bucket(b.name, b.key, b.per_minute, settings.rate_burst_s) for b in found if b.per_minute
    ]


def _headers(bucket: Bucket, level: int, wait_s: float) -> dict[str, str]:
    reset = math.ceil(wait_s) if wait_s > 0 else 0
    return {
        "RateLimit-Limit": str(bucket.capacity // MILLI),
        "RateLimit-Remaining": str(max(0, level // MILLI)),
        "RateLimit-Reset": str(reset),
        "RateLimit-Policy": (
            f"{bucket.capacity // MILLI};w={round(bucket.capacity / bucket.refill_per_s)}"
        ),
    }


async def take(
    runtime: Any,
    principal: Principal,
    action: str,
    response: Response,
    metrics: Metrics | None = None,
) -> None:
    """Take a token for this request from each of its buckets, or refuse it with a 429
    (counted in `metrics` by organization and bucket kind)."""
    found = buckets(runtime.settings, principal, action)
    if not found:
        return
    shared: SharedBuckets = runtime.buckets
    refused, levels = await shared.take_levels([Draw(b) for b in found])
    if refused is not None:
        bucket, wait_s = refused
        retry = max(1, math.ceil(wait_s))
        if metrics is not None:
            metrics.refused(principal.organization_id, limit_label(bucket))
        raise HTTPException(
            status_code=429,
            detail=(
                f"too many {bucket.name}: the limit is {bucket.per_minute:g} a minute "
                f"(bursts of {bucket.capacity // MILLI}); try again in {retry} s"
            ),
            headers={"Retry-After": str(retry), **_headers(bucket, 0, wait_s)},
        )
    # The tightest bucket's state after this request, as the draw left it.
    tightest = min(found, key=lambda b: levels[b.key])
    response.headers.update(_headers(tightest, levels[tightest.key], 0))


async def limit_creations(
    request: Request, runtime: RuntimeDep, principal: CurrentUser, response: Response
) -> None:
    await take(runtime, principal, CREATE, response, request.app.state.metrics)


async def limit_uploads(
    request: Request, runtime: RuntimeDep, principal: CurrentUser, response: Response
) -> None:
    await take(runtime, principal, UPLOAD, response, request.app.state.metrics)


# For a route's `dependencies=[...]`: the request is counted before its handler runs.
CreationLimit = Depends(limit_creations)
UploadLimit = Depends(limit_uploads)

RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "Rate limited: too many such requests; wait Retry-After seconds",
        "model": Problem,
    }
}


async def bucket_report(
    shared: SharedBuckets, settings: Settings, principal: Principal
) -> list[dict[str, Any]]:
    """Every bucket of the caller, with what it allows right now (for GET /api/limits)."""
    found = [b for action in (CREATE, UPLOAD) for b in buckets(settings, principal, action)]
    levels = await shared.levels(found)
    return [
        {
            "name": b.name,
            "per_minute": b.per_minute,
            "burst": b.capacity // MILLI,
            "remaining": max(0, levels[b.key] // MILLI),
        }
        for b in found
    ]


# --- live-feed sockets per API key ---------------------------------------------------

CLOSE_TOO_MANY = 4429
# A lease outlives its renewal period thrice over, so that a busy process keeps its own,
# and a dead process's leases free their places within a minute.
LEASE_TTL_S = 60.0


async def open_socket_lease(runtime: Any, principal: Principal) -> str | None:
    """A place for one more live-feed socket of this key (None: it has all it may)."""
    cap = runtime.settings.ws_connections_per_key

    async def work(session: AsyncSession) -> str | None:
        return await limit_store.open_lease(
            session,
            key_id=principal.key_id,
            cap=cap,
            ttl=timedelta(seconds=LEASE_TTL_S),
            now=utcnow(),
        )

    lease: str | None = await runtime.db.transact(work)
    return lease


def too_many_sockets(runtime: Any) -> str:
    cap = runtime.settings.ws_connections_per_key
    return f"too many live-feed connections for this API key (at most {cap}); close one"


async def hold_socket_lease(runtime: Any, lease_id: str) -> None:
    """Renew the lease while the socket is open (runs until cancelled)."""
    while True:
        await asyncio.sleep(LEASE_TTL_S / 3)

        async def work(session: AsyncSession) -> None:
            until = utcnow() + timedelta(seconds=LEASE_TTL_S)
            await limit_store.renew_leases(session, lease_ids=[lease_id], until=until)

        await runtime.db.transact(work)


async def close_socket_lease(runtime: Any, lease_id: str) -> None:
    async def work(session: AsyncSession) -> None:
        await limit_store.close_lease(session, lease_id=lease_id)

    await runtime.db.transact(work)
