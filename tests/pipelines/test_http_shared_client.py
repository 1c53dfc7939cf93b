"""The http steps' one client per worker (activities/pipeline_http.py `step_client`) over
the guard's transport (jobdeck/outbound.py): sharing it keeps every promise of a fresh
one. Each request is checked again (a kept-alive connection to an address checked before
carries nothing to a name that now resolves elsewhere), the connection goes to the
address just checked, no cookie one answer set goes out with a later call, and the
transport keeps a bounded number of host pools. Bare HTTP/1.1 servers on loopback
addresses that keep connections open; the resolver is injected where a name rebinds."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from jobdeck.activities.pipeline_http import call_http, step_client
from jobdeck.config import Settings
from jobdeck.outbound import Address, AddressRefused, PinnedTransport, guarded_client
from tests.fakes.serving import free_port

NAME = "api.example.test"


class Answers:
    """A resolver that answers what `now` holds (a name that rebinds between calls)."""

    def __init__(self, *addresses: str) -> None:
        self.now = [ipaddress.ip_address(a) for a in addresses]
        self.asked = 0

    def rebind(self, *addresses: str) -> None:
        self.now = [ipaddress.ip_address(a) for a in addresses]

    async def __call__(self, host: str, port: int) -> list[Address]:
        self.asked += 1
        return list(self.now)


@dataclass
class KeepAlive:
    """Answers every request on a connection it keeps open: 200, a JSON body naming the
    connection, a cookie; notes each request's Cookie header."""

    address: str
    connections: int = 0
    cookies: list[str | None] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        self.connections += 1
        number = self.connections
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                lines = head.split("\r\n")
                self.cookies.append(
                    next(
                        (
                            ln.split(":", 1)[1].strip()
                            for ln in lines
                            if ln.lower().startswith("cookie:")
                        ),
                        None,
                    )
                )
                body = f'{{"server": "{self.address}", "connection": {number}}}'.encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"set-cookie: session=secret-of-one-tenant; Path=/\r\n"
                    + f"content-length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def keep_alive(host: str, port: int) -> AsyncIterator[KeepAlive]:
    server_state = KeepAlive(host)
    server = await asyncio.start_server(server_state.handle, host, port)
    try:
        yield server_state
    finally:
        server.close()
        for writer in server_state.writers:  # the kept-alive connections end too
            writer.close()
        await asyncio.sleep(0.01)


def _step(url: str) -> dict[str, object]:
    return {"id": "call", "kind": "http", "url": url}


async def test_a_shared_step_client_checks_every_call_and_keeps_no_cookies() -> None:
    port = free_port()
    settings = Settings(environment="test", pipeline_http_allow=["127.0.0.1"])
    client = step_client(settings)
    async with keep_alive("127.0.0.1", port) as allowed, keep_alive("127.0.0.2", port) as inner:
        try:
            first, _ = await call_http(client, _step(f"http://127.0.0.1:{port}/a"))
            second, _ = await call_http(client, _step(f"http://127.0.0.1:{port}/b"))
            # One connection served both calls: what sharing the client saves.
            assert first["body"] == second["body"] == {"server": "127.0.0.1", "connection": 1}
            # The first answer's cookie did not go out with the second call.
            assert allowed.cookies == [None, None]

            # A private address is refused on the same client, pooled connection or not.
            with pytest.raises(ApplicationError) as refused:
                await call_http(client, _step(f"http://127.0.0.2:{port}/x"))
            assert refused.value.type == "HttpAddressRefused" and refused.value.non_retryable
            assert "JOBDECK_PIPELINE_HTTP_ALLOW" in str(refused.value)
            assert inner.connections == 0 and inner.cookies == []

            # And the client goes on serving allowed calls.
            third, _ = await call_http(client, _step(f"http://127.0.0.1:{port}/c"))
            assert third["status"] == 200
        finally:
            await client.aclose()


async def test_a_kept_alive_connection_does_not_outlive_the_check() -> None:
    port = free_port()
    answers = Answers("127.0.0.1")
    async with (
        keep_alive("127.0.0.1", port) as first,
        keep_alive("127.0.0.3", port) as moved,
        guarded_client(
            ["127.0.0.1", "127.0.0.3"], setting="TEST_ALLOW", timeout=5, resolve=answers
        ) as client,
    ):
        response = await client.get(f"http://{NAME}:{port}/")
        assert response.json() == {"server": "127.0.0.1", "connection": 1}
        # The name now answers an address nobody allowed: refused, though a connection
        # to the address it answered before is open in the pool.
        answers.rebind("10.0.0.7")
        with pytest.raises(AddressRefused, match="10.0.0.7.*TEST_ALLOW"):
            await client.get(f"http://{NAME}:{port}/")
        # It answers another allowed address: the call goes there, not over the pooled
        # connection to the first.
        answers.rebind("127.0.0.3")
        response = await client.get(f"http://{NAME}:{port}/")
        assert response.json() == {"server": "127.0.0.3", "connection": 1}
        assert len(first.cookies) == 1 and len(moved.cookies) == 1
        assert answers.asked == 3


async def test_the_transport_keeps_a_bounded_number_of_host_pools() -> None:
    port = free_port()
    answers = Answers("127.0.0.1")
    transport = PinnedTransport(["127.0.0.1"], setting="TEST_ALLOW", resolve=answers, max_hosts=2)
    async with keep_alive("127.0.0.1", port):
        async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
            # A response still being read keeps its host's pool.
            async with client.stream("GET", f"http://a.example.test:{port}/") as held:
                for name in ("b", "c", "d"):
                    response = await client.get(f"http://{name}.example.test:{port}/")
                    assert response.status_code == 200
                # Each new name closed the idle pool before it; a's stayed (busy).
                assert list(transport._pools) == ["a.example.test", "d.example.test"]
                assert (await held.aread()).startswith(b'{"server": "127.0.0.1"')
            await client.get(f"http://e.example.test:{port}/")
            assert list(transport._pools) == ["d.example.test", "e.example.test"]
            assert transport._open == {}
