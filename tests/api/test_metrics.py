"""GET /metrics: Prometheus text with request counts by route template, jobs by type and
status, and feed subscribers; aggregates only (no ids in labels)."""

from __future__ import annotations

import re

from pydantic import SecretStr

from tests.conftest import Stack, Tenant, open_stack
from tests.helpers import create_job, wait_for_job


def _value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        sample = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if sample is None or sample.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', sample.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(sample.group(3))
    raise AssertionError(f"{name} {labels} not in metrics")


async def test_metrics_count_requests_and_jobs(stack: Stack, tenant: Tenant) -> None:
    job = await create_job(tenant.api, data={"steps": 1})
    await wait_for_job(tenant.api, job["id"])
    await tenant.api.get(f"/api/jobs/{job['id']}")
    missing = await tenant.api.get("/api/jobs/no-such-job")
    assert missing.status_code == 404
    async with stack.client(None) as anonymous:  # for scrapers: no API key
        response = await anonymous.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert job["id"] not in text
    # An organization is named only by the fair-sharing families (its job's wait here).
    named = [line for line in text.splitlines() if tenant.account.organization_id in line]
    assert named and all(line.startswith("jobdeck_job_wait_seconds") for line in named)
    route = "/api/jobs/{job_id}"
    assert _value(text, "jobdeck_http_requests_total", route=route, status="200") >= 1
    assert _value(text, "jobdeck_http_requests_total", route=route, status="404") >= 1
    assert _value(text, "jobdeck_http_request_duration_seconds_count", route=route) >= 2
    assert _value(text, "jobdeck_jobs", type="test-steps", status="completed") >= 1
    assert _value(text, "jobdeck_feed_subscribers") >= 0


async def test_a_metrics_token_keeps_metrics_to_operators(stack: Stack) -> None:
    token = "operator-sentinel-token"
    async with open_stack(stack, workers=False, metrics_token=SecretStr(token)) as guarded:
        async with guarded.client(None) as anonymous:
            refused = await anonymous.get("/metrics")
            assert refused.status_code == 401
            assert "JOBDECK_METRICS_TOKEN" in refused.json()["detail"]
            wrong = await anonymous.get("/metrics", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
        async with guarded.client(token) as operator:
            allowed = await operator.get("/metrics")
            assert allowed.status_code == 200
            assert "jobdeck_jobs" in allowed.text
