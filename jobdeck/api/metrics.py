"""Prometheus metrics of one API process, at GET /metrics: HTTP requests by route and
status with their durations, jobs by type and status (all organizations, counted at
scrape time), and live-feed subscribers. Aggregates only: no organization, user or job
appears in a label."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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

    def render(self, jobs: list[tuple[str, str, int]], subscribers: int) -> bytes:
        self.jobs.clear()
        for job_type, status, count in jobs:
            self.jobs.labels(job_type, status).set(count)
        self.subscribers.set(subscribers)
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
