"""Prometheus metrics of one API process, at GET /metrics: HTTP requests by route and
status with their durations, jobs by type and status (all organizations, counted at
scrape time), live-feed subscribers, and fair sharing by organization: jobs waiting for a
concurrency slot and slots held (counted at scrape time), how long jobs waited from
created to started, by organization and type, and this process's rate-limit rejections
by what was limited. No user, key or job appears in a label; an organization does only
in the fair-sharing families (their number of values is the number of organizations, not
of jobs).

The waits are read at scrape time from the jobs' `started` events since the last scrape
(one range of the events' index), from the process's start on: every API process counts
every job once, so aggregate them with max(), not sum()."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobdeck.store.limits import HELD

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """One registry per app, so that several apps in one process (tests) never clash."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "jobdeck_http_requests",
            "HTTP requests handled, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "jobdeck_http_request_duration_seconds",
            "Time to the response's first byte, by method and route template",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.jobs = Gauge(
            "jobdeck_jobs",
            "Jobs in the database, by type and status",
            ["type", "status"],
            registry=self.registry,
        )
        self.subscribers = Gauge(
            "jobdeck_feed_subscribers",
            "WebSocket feed subscriptions open on this API process",
            registry=self.registry,
        )
        self.slots_waiting = Gauge(
            "jobdeck_jobs_waiting_for_slot",
            "Pending jobs waiting in line for a concurrency slot, by organization",
            ["organization"],
            registry=self.registry,
        )
        self.slots_held = Gauge(
            "jobdeck_slots_held",
            "Concurrency slots held by jobs, by organization",
            ["organization"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "jobdeck_rate_limited",
            "Requests refused by an API rate limit (429, or a live-feed socket closed with "
            "4429) on this API process, by organization and by what was limited",
            ["organization", "limit"],
            registry=self.registry,
        )
        self.waits = Histogram(
            "jobdeck_job_wait_seconds",
            "Time from a job's creation to its start (pending to running: the queue, its "
            "dependencies and its wait for a slot), by organization and job type",
            ["organization", "type"],
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 14400),
            registry=self.registry,
        )
        # The newest job event counted into `waits` (None: not yet known; the app sets it
        # to the newest event when it starts).
        self.waits_after: int | None = None
        self.waits_lock = asyncio.Lock()

    def waited(self, waits: Sequence[tuple[str, str, float]], after: int) -> None:
        """Count jobs' waits, (organization, type, seconds), read up to event `after`."""
        for organization_id, job_type, seconds in waits:
            self.waits.labels(organization_id, job_type).observe(max(0.0, seconds))
        self.waits_after = after

    def refused(self, organization_id: str, limit: str) -> None:
        """Count one request refused by the rate limit `limit` (e.g. creates_per_key)."""
        self.rate_limited.labels(organization_id, limit).inc()

    def render(
        self,
        jobs: list[tuple[str, str, int]],
        subscribers: int,
        slots: Sequence[tuple[str, str, int]] = (),
    ) -> bytes:
        """`slots`: (organization, state, count) from the slot table (`slot_counts`)."""
        self.jobs.clear()
        for job_type, status, count in jobs:
            self.jobs.labels(job_type, status).set(count)
        self.subscribers.set(subscribers)
        # Cleared first, so that an organization whose line emptied shows no stale value.
        self.slots_waiting.clear()
        self.slots_held.clear()
        for organization_id, state, count in slots:
            gauge = self.slots_held if state == HELD else self.slots_waiting
            gauge.labels(organization_id).set(count)
        return generate_latest(self.registry)


def _route(scope: Scope) -> str:
    """The route template (/api/jobs/{job_id}) the router matched, never the raw path:
    ids would make a label value per job."""
    route = scope.get("route")
    return str(getattr(route, "path_format", None) or getattr(route, "path", None) or "unmatched")


class MetricsMiddleware:
    """Counts and times HTTP requests (pure ASGI: no per-request task or body copy)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        route: str | None = None

        async def sending(message: Message) -> None:
            nonlocal status, route
            if message["type"] == "http.response.start":
                status = message["status"]
                route = _route(scope)
                self.metrics.latency.labels(scope["method"], route).observe(
                    time.perf_counter() - started
                )
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = route or _route(scope)
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
