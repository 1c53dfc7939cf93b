"""WebSocket feeds: /ws/jobs (every job the caller may see) and /ws/jobs/{id} (one job).

Protocol (server → client, JSON text): `snapshot` (jobs as they are now), `event` (one job
event, with the job's new public state), `ready` (replay done, live from here), `reset`
(the events after the client's `after` were pruned; a snapshot follows), `heartbeat`.
A client resumes with `?after=<last event id>` and gets exactly what it missed.

Authentication: the API key as `Authorization: Bearer` (non-browser clients), as the
subprotocol `bearer.<key>` offered beside `jobdeck` (browsers), or as the first message
`{"type": "auth", "key": ...}` within 5 s; or, with none of these (an empty `bearer.`), the
dashboard's session cookie (jobdeck/api/routes/session.py), behind the same Origin check.
The key is never logged or echoed. A feed whose key (or session's key) is revoked or deleted
closes with 4401 within seconds (jobdeck/api/key_watch.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any
from urllib.parse import urlparse

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from jobdeck.api import ratelimit
from jobdeck.api.key_watch import KeyWatch
from jobdeck.api.routes.session import COOKIE, session_principal
from jobdeck.api.text import check_query_and_path
from jobdeck.api.views import job_public
from jobdeck.config import Settings
from jobdeck.domain import JobFilter, JobStatus
from jobdeck.errors import NotFound
from jobdeck.events.feed import LiveFeed
from jobdeck.events.hub import FeedEvent, FeedFilter, Subscription
from jobdeck.runtime import Runtime
from jobdeck.store import accounts
from jobdeck.store import events as event_store
from jobdeck.store import jobs as job_store

logger = logging.getLogger(__name__)
router = APIRouter(tags=["live feed"])

CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_SLOW = 4408
AUTH_WAIT_S = 5.0
REPLAY_BATCH = 500
SNAPSHOT_LIMIT = 200
_ACTIVE = [JobStatus.PENDING.value, JobStatus.ACTIVE.value]


class _Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def _origin_allowed(ws: WebSocket, settings: Settings) -> bool:
    origin = ws.headers.get("origin")
    if origin is None:  # not a browser
        return True
    return origin in settings.allowed_origins or urlparse(origin).netloc == ws.headers.get("host")


def _split(value: str | None) -> frozenset[str]:
    return frozenset(v.strip() for v in (value or "").split(",") if v.strip())


async def _authenticate(ws: WebSocket, runtime: Runtime) -> accounts.Principal:
    """Accept the socket and resolve the caller from the key, however it was sent."""
    key = None
    header = ws.headers.get("authorization", "")
    offered = list(ws.scope.get("subprotocols") or [])
    if header.lower().startswith("bearer "):
        key = header[7:].strip()
    for protocol in offered:
        if protocol.startswith("bearer."):
            key = protocol[len("bearer.") :]
    await ws.accept(subprotocol="jobdeck" if "jobdeck" in offered else None)
    if not key and COOKIE in ws.cookies:  # the Origin was checked before (_serve)
        principal = await session_principal(runtime, ws.cookies[COOKIE])
        if principal is None:
            raise _Refused(CLOSE_UNAUTHORIZED, "the session has ended")
        return principal
    if key is None:
        try:
            first = json.loads(await asyncio.wait_for(ws.receive_text(), AUTH_WAIT_S))
            key = first.get("key") if first.get("type") == "auth" else None
        except (TimeoutError, ValueError, AttributeError):
            key = None
    if not key:
        raise _Refused(CLOSE_UNAUTHORIZED, "missing API key")
    async with runtime.db.read() as session:
        principal = await accounts.authenticate(session, key=key)
    if principal is None:
        raise _Refused(CLOSE_UNAUTHORIZED, "API key is unknown or revoked")
    return principal


def _after(ws: WebSocket) -> int | None:
    raw = ws.query_params.get("after")
    if raw is None:
        return None
    if not raw.isdigit():
        raise _Refused(CLOSE_BAD_REQUEST, "after must be an event id (a whole number)")
    return int(raw)


async def _snapshot(
    runtime: Runtime, principal: accounts.Principal, flt: FeedFilter, job_id: str | None
) -> dict[str, Any]:
    """The jobs as they are now: one job (with its workflow's live progress while it runs)
    or the caller's unfinished jobs."""
    settings = runtime.settings
    async with runtime.db.read() as session:
        if job_id is not None:
            job = await job_store.get_job(
                session, organization_id=principal.organization_id, job_id=job_id
            )
            body: dict[str, Any] = {
                "type": "snapshot",
                "job": job_public(job, settings).model_dump(mode="json", by_alias=True),
            }
            running = job.status == JobStatus.ACTIVE.value
        else:
            statuses = [s for s in _ACTIVE if not flt.statuses or s in flt.statuses]
            jobs, _ = await job_store.list_jobs(
                session,
                organization_id=principal.organization_id,
                flt=JobFilter(statuses=statuses, types=sorted(flt.types), ids=sorted(flt.job_ids)),
                limit=SNAPSHOT_LIMIT,
            )
            return {
                "type": "snapshot",
                "jobs": [
                    job_public(j, settings).model_dump(mode="json", by_alias=True) for j in jobs
                ],
            }
    if running:
        with contextlib.suppress(Exception):  # the stored record stands in if the query fails
            async with asyncio.timeout(2):
                body["live"] = await runtime.temporal.get_workflow_handle(job_id).query("progress")
    return body


async def _replay(
    ws: WebSocket, runtime: Runtime, principal: accounts.Principal, flt: FeedFilter, after: int
) -> int:
    """Send the stored events past `after`; returns the last id covered."""
    last = after
    while True:
        async with runtime.db.read() as session:
            events = await event_store.list_events(
                session,
                organization_id=principal.organization_id,
                job_ids=sorted(flt.job_ids) or None,
                after=last,
                limit=REPLAY_BATCH,
            )
        for event in events:
            feed_event = FeedEvent.of(event)
            if flt.matches(feed_event):
                await ws.send_text(feed_event.message)
        if events:
            last = events[-1].id
        if len(events) < REPLAY_BATCH:
            return last


async def _stream(ws: WebSocket, sub: Subscription, last: int, heartbeat_s: float) -> None:
    """Live events past `last`, heartbeats when idle, until the client leaves or lags."""
    while True:
        if sub.overflowed.is_set():
            raise _Refused(CLOSE_TOO_SLOW, f"too slow: reconnect with after={last}")
        try:
            # A queued event is taken at once; only an empty queue waits (with a timer).
            # wait_for would make a task and a timer per event per client.
            event = sub.queue.get_nowait()
        except asyncio.QueueEmpty:
            try:
                async with asyncio.timeout(heartbeat_s):
                    event = await sub.queue.get()
            except TimeoutError:
                await ws.send_text(json.dumps({"type": "heartbeat", "lastEventId": last}))
                continue
        if event.id <= last:  # already sent by the replay
            continue
        await ws.send_text(event.message)
        last = event.id


async def _drain_incoming(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends, so that its close is noticed."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return


async def _until_revoked(revoked: asyncio.Event) -> None:
    """Ends the feed once its key is revoked or deleted (see jobdeck/api/key_watch.py)."""
    await revoked.wait()
    raise _Refused(CLOSE_UNAUTHORIZED, "API key was revoked")


def _check_storable(ws: WebSocket, job_id: str | None) -> None:
    """Ids and filters reach the database: no NUL in them (jobdeck/api/text.py)."""
    found = check_query_and_path(job_id or "", ws.scope.get("query_string", b""))
    if found is not None:
        field, problem = found
        field = "jobId" if field == "path" else field
        reason = f"{field}: {problem.message}"
        # A close reason is at most 123 bytes; the field is the client's to name.
        raise _Refused(CLOSE_BAD_REQUEST, reason.encode()[:120].decode(errors="ignore"))


async def _serve(ws: WebSocket, job_id: str | None) -> None:
    runtime: Runtime = ws.app.state.runtime
    live: LiveFeed = ws.app.state.feed
    settings = runtime.settings
    if not _origin_allowed(ws, settings):
        await ws.close(code=CLOSE_FORBIDDEN, reason="origin not allowed")
        return
    sub: Subscription | None = None
    watch: KeyWatch = ws.app.state.key_watch
    principal: accounts.Principal | None = None
    revoked = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()
    lease: str | None = None
    try:
        principal = await _authenticate(ws, runtime)
        lease = await ratelimit.open_socket_lease(runtime, principal)  # a cap per key
        if lease is None:
            ws.app.state.metrics.refused(principal.organization_id, ratelimit.SOCKETS_PER_KEY)
            raise _Refused(ratelimit.CLOSE_TOO_MANY, ratelimit.too_many_sockets(runtime))
        revoked = watch.watch(principal.key_id)
        after = _after(ws)
        _check_storable(ws, job_id)
        flt = FeedFilter(
            job_ids=frozenset({job_id}) if job_id else _split(ws.query_params.get("jobId")),
            types=_split(ws.query_params.get("type")),
            statuses=_split(ws.query_params.get("status")),
        )
        # Subscribe before reading the table: an event committed meanwhile is either read
        # below or queued, never lost; the seam drops what was both.
        sub = live.hub.subscribe(principal.organization_id, flt)
        async with runtime.db.read() as session:
            oldest, newest = await event_store.event_bounds(session)
        # Events past `after` were pruned if the oldest kept is further on (or none is kept
        # though newer ones existed).
        horizon = max(newest, live.hub.last_id)
        if after is not None and after < horizon and (oldest == 0 or oldest > after + 1):
            await ws.send_text(
                json.dumps(
                    {
                        "type": "reset",
                        "reason": f"events after {after} are no longer kept "
                        f"(retention {settings.event_retention_days:g} days); a snapshot follows",
                        "oldestEventId": oldest,
                    }
                )
            )
            after = None
        if job_id is not None or after is None:
            try:
                await ws.send_text(json.dumps(await _snapshot(runtime, principal, flt, job_id)))
            except NotFound as err:
                raise _Refused(CLOSE_NOT_FOUND, str(err)) from None
        last = await _replay(ws, runtime, principal, flt, after) if after is not None else newest
        await ws.send_text(json.dumps({"type": "ready", "lastEventId": last}))
        tasks = {
            asyncio.create_task(_drain_incoming(ws)),
            asyncio.create_task(_stream(ws, sub, last, settings.ws_heartbeat_s)),
            asyncio.create_task(_until_revoked(revoked)),
            asyncio.create_task(ratelimit.hold_socket_lease(runtime, lease)),
        }
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in done:
            task.result()
    except _Refused as refusal:
        if ws.application_state == WebSocketState.CONNECTED:
            await ws.close(code=refusal.code, reason=refusal.reason)
    except WebSocketDisconnect:
        pass
    finally:
        for task in tasks:
            task.cancel()
        if principal is not None:
            watch.unwatch(principal.key_id, revoked)
        if sub is not None:
            live.hub.unsubscribe(sub)
        if lease is not None:
            await ratelimit.close_socket_lease(runtime, lease)


@router.websocket("/ws/jobs")
async def jobs_feed(ws: WebSocket) -> None:
    """Live events of every job the caller may see (?type= &status= &jobId= &after=)."""
    await _serve(ws, None)


@router.websocket("/ws/jobs/{job_id}")
async def job_feed(ws: WebSocket, job_id: str) -> None:
    """Live events of one job, after a snapshot of it (?after=)."""
    await _serve(ws, job_id)
