"""A feed lives only as long as its API key: revoking (or deleting) the key closes its open
WebSockets with 4401 within seconds (one check per API process every CHECK_INTERVAL_S),
while feeds of other keys go on. And ids or filters that hold NUL are refused (4400)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import delete
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from jobdeck.api.key_watch import CHECK_INTERVAL_S
from jobdeck.store.tables import ApiKey
from tests.conftest import Stack, Tenant
from tests.feed.conftest import ended, open_feed, receive, receive_until
from tests.helpers import create_job

# The check runs every CHECK_INTERVAL_S (2 s): a revoked key's feed is closed within that,
# plus the query and the close handshake.
CLOSED_WITHIN_S = CHECK_INTERVAL_S + 1.5


async def _closed_code(ws: ClientConnection, within: float) -> tuple[int, str, list[Any]]:
    """Read until the server closes; the close code, reason and what came before."""
    got: list[Any] = []
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(within):
            while True:
                got.append(await receive(ws, within))
    assert closed.value.rcvd is not None, "the client closed, not the server"
    return closed.value.rcvd.code, closed.value.rcvd.reason, got


@pytest.mark.parametrize("how", ["revoked", "deleted"])
async def test_a_revoked_or_deleted_key_loses_its_open_feeds_within_seconds(
    stack: Stack, ws_url: str, tenant: Tenant, how: str
) -> None:
    created = await tenant.api.post("/api/keys", json={"name": "dashboard"})
    assert created.status_code == 201, created.text
    key = created.json()
    async with (
        open_feed(f"{ws_url}/ws/jobs", key["key"]) as doomed,
        open_feed(f"{ws_url}/ws/jobs", tenant.account.key) as other,
    ):
        await receive_until(doomed, lambda m: m["type"] == "ready")
        await receive_until(other, lambda m: m["type"] == "ready")
        if how == "revoked":
            response = await tenant.api.delete(f"/api/keys/{key['id']}")
            assert response.status_code == 200, response.text
        else:
            async with stack.db.write() as session:
                await session.execute(delete(ApiKey).where(ApiKey.id == key["id"]))
        gone_at = time.monotonic()
        # Events keep flowing meanwhile; they do not keep the socket open.
        job = await create_job(tenant.api, data={"steps": 20, "stepSeconds": 0.1})
        code, reason, _ = await _closed_code(doomed, within=CLOSED_WITHIN_S + 5)
        took = time.monotonic() - gone_at
        assert (code, reason) == (4401, "API key was revoked")
        assert took < CLOSED_WITHIN_S, f"closed after {took:.1f} s"
        # The other key's feed is untouched and still live, to the job's end.
        await receive_until(other, ended(job["id"]))
    # And the key cannot open a new feed.
    async with open_feed(f"{ws_url}/ws/jobs", key["key"]) as again:
        code, _, got = await _closed_code(again, within=10)
    assert code == 4401 and got == []


async def test_a_live_key_is_not_closed(ws_url: str, tenant: Tenant) -> None:
    async with open_feed(f"{ws_url}/ws/jobs", tenant.account.key) as ws:
        await receive_until(ws, lambda m: m["type"] == "ready")
        deadline = time.monotonic() + CHECK_INTERVAL_S + 0.5
        while time.monotonic() < deadline:  # heartbeats every 0.5 s in the tests
            assert (await receive(ws, within=3))["type"] == "heartbeat"


@pytest.mark.parametrize("path", ["/ws/jobs/a%00b", "/ws/jobs?jobId=a%00b", "/ws/jobs?type=%00"])
async def test_nul_in_ids_and_filters_is_refused(ws_url: str, tenant: Tenant, path: str) -> None:
    async with open_feed(f"{ws_url}{path}", tenant.account.key) as ws:
        code, reason, got = await _closed_code(ws, within=10)
    assert code == 4400 and "NUL" in reason and got == []
