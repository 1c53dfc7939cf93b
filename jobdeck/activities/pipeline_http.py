"""The `http` step: one request with the step's method, headers and JSON body.

It refuses loopback, link-local, private and other non-public addresses (a pipeline
must not reach into the network jobdeck runs in) unless the host or its network is in
JOBDECK_PIPELINE_HTTP_ALLOW, and connects to the address it checked (jobdeck/outbound.py:
no second lookup for DNS rebinding to answer); redirects are not followed, so a public
URL cannot bounce the request inward. 5xx and 429 answers raise a retryable error (the
step's retry policy applies); any other unexpected status fails the step for good.

A worker's http steps share one such client (`step_client`, held by the activity group):
its address check runs on every request, so sharing it saves the client, its TLS context
and, where the server keeps it open, the connection, and weakens nothing. It keeps no
cookies, so no organization's call carries what another's was answered.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx
from temporalio.exceptions import ApplicationError

from jobdeck.config import Settings
from jobdeck.outbound import AddressRefused, Unresolvable, capped_request, guarded_client

MAX_BODY_BYTES = 10 * 1024**2
ALLOW_SETTING = "JOBDECK_PIPELINE_HTTP_ALLOW"


def step_client(settings: Settings) -> httpx.AsyncClient:
    """The client every http step of a worker calls through (see the module's doc)."""
    return guarded_client(
        settings.pipeline_http_allow,
        setting=ALLOW_SETTING,
        timeout=settings.pipeline_http_timeout_s,
    )


async def call_http(client: httpx.AsyncClient, step: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    url = str(step["url"])
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApplicationError(
            f"{url!r} is not an http(s) URL", type="HttpBadUrl", non_retryable=True
        )
    method = step.get("method") or "GET"
    body = step.get("body")
    try:
        response, content, more = await capped_request(
            client,
            method,
            url,
            limit=MAX_BODY_BYTES,
            headers={str(k): str(v) for k, v in (step.get("headers") or {}).items()},
            json=body if body is not None else None,
        )
    except AddressRefused as err:
        raise ApplicationError(str(err), type="HttpAddressRefused", non_retryable=True) from None
    except Unresolvable as err:
        raise ApplicationError(str(err), type="HttpUnreachable") from None
    except httpx.HTTPError as err:
        raise ApplicationError(
            f"{method} {url} failed: {err.__class__.__name__}", type="HttpUnreachable"
        ) from None
    status = response.status_code
    text = content.decode(response.encoding or "utf-8", errors="replace")
    if status == 429 or status >= 500:
        raise ApplicationError(
            f"{method} {url} answered {status}; retrying",
            {"body": text[:500]},
            type="HttpRetryable",
        )
    expected = step.get("expectedStatuses") or list(range(200, 300))
    if status not in expected:
        raise ApplicationError(
            f"{method} {url} answered {status}, expected {_statuses(expected)}",
            {"status": status, "body": text[:500]},
            type="HttpUnexpectedStatus",
            non_retryable=True,
        )
    if more:
        raise ApplicationError(
            f"{method} {url} answered more than {MAX_BODY_BYTES:,} bytes, the most an http"
            " step reads",
            {"status": status, "body": text[:500]},
            type="HttpBodyTooLarge",
            non_retryable=True,
        )
    try:
        parsed: Any = json.loads(text) if text else None
    except ValueError:
        parsed = text
    output = {
        "status": status,
        "headers": {"content-type": response.headers.get("content-type", "")},
        "body": parsed,
    }
    return output, {"status": status, "bytes": len(content)}


def _statuses(expected: list[int]) -> str:
    return "2xx" if expected == list(range(200, 300)) else ", ".join(map(str, expected))
