"""The SSRF guard pins the address it checked (jobdeck/outbound.py): a receiver's name is
resolved once, every address checked, and the connection goes to the checked address
with the name kept for Host, TLS SNI and the certificate check. Real servers on loopback
addresses; the resolver is injected, answering differently the second time, as a name
that rebinds would."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from jobdeck.config import Settings
from jobdeck.notifications.senders import EXCERPT_CHARS, Sender
from jobdeck.outbound import Address, AddressRefused, guarded_client
from tests.fakes.serving import endless_answer, free_port, serving
from tests.notifications.test_starttls import Authority, TlsInbox, new_authority

NAME = "hooks.example.test"


class Rebinding:
    """A resolver whose answers change from one lookup to the next (the last one stays)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = [[ipaddress.ip_address(a) for a in answer] for answer in answers]
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[Address]:
        self.asked.append((host, port))
        return self.answers[min(len(self.asked), len(self.answers)) - 1]


@dataclass
class Listener:
    """A bare HTTP/1.1 server that notes each request's head and the TLS name asked for."""

    requests: list[str] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        length = next(
            (
                int(line.split(":", 1)[1])
                for line in head.split("\r\n")
                if line.lower().startswith("content-length:")
            ),
            0,
        )
        await reader.readexactly(length)
        self.requests.append(head)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    def host_headers(self) -> list[str]:
        return [
            line.split(":", 1)[1].strip()
            for head in self.requests
            for line in head.split("\r\n")
            if line.lower().startswith("host:")
        ]


@asynccontextmanager
async def listening(
    host: str, port: int, context: ssl.SSLContext | None = None
) -> AsyncIterator[Listener]:
    listener = Listener()
    if context is not None:
        context.sni_callback = lambda sock, name, ctx: listener.sni.append(name)  # type: ignore[assignment]
    server = await asyncio.start_server(listener.handle, host, port, ssl=context)
    try:
        yield listener
    finally:
        server.close()
        await server.wait_closed()


async def test_the_connection_goes_to_the_address_that_was_checked() -> None:
    port = free_port()
    # The name answers 127.0.0.1 (allow-listed) for the check, 127.0.0.2 (not) after.
    resolver = Rebinding(["127.0.0.1"], ["127.0.0.2"])
    async with (
        listening("127.0.0.1", port) as checked,
        listening("127.0.0.2", port) as inner,
        guarded_client(["127.0.0.1"], setting="TEST_ALLOW", timeout=5, resolve=resolver) as client,
    ):
        response = await client.post(f"http://{NAME}:{port}/hook", content=b"{}")
        assert response.status_code == 200 and response.text == "ok"
        assert resolver.asked == [(NAME, port)]  # resolved once, for the check
        assert checked.host_headers() == [f"{NAME}:{port}"]  # the name kept for Host
        assert inner.requests == []

        # The next request looks the name up again, and the new answer is refused.
        with pytest.raises(AddressRefused, match="127.0.0.2.*TEST_ALLOW"):
            await client.post(f"http://{NAME}:{port}/hook", content=b"{}")
        assert len(resolver.asked) == 2
        assert inner.requests == [] and len(checked.requests) == 1


@pytest.mark.parametrize(
    "answer",
    [
        ["1.1.1.1", "10.0.0.1"],  # one inner address among public ones refuses the name
        ["169.254.169.254"],  # the cloud metadata address
        ["::ffff:127.0.0.1"],  # loopback dressed as IPv6
        ["fd00::1"],
    ],
)
async def test_every_address_the_name_resolves_to_is_checked(answer: list[str]) -> None:
    async with guarded_client([], setting="TEST_ALLOW", timeout=5, resolve=Rebinding(answer)) as c:
        with pytest.raises(AddressRefused, match="not public"):
            await c.get(f"http://{NAME}/")


async def test_tls_is_checked_for_the_name_not_the_address(tmp_path: Path) -> None:
    authority = new_authority("pinned test CA")
    server = _server_context(authority, [x509.DNSName(NAME)], tmp_path)
    trust = ssl.create_default_context(cadata=authority.pem)
    port = free_port()
    # Both names resolve to 127.0.0.1; the certificate is for NAME only (no IP in it).
    resolver = Rebinding(["127.0.0.1"])
    async with (
        listening("127.0.0.1", port, server) as listener,
        guarded_client(
            ["127.0.0.1"], setting="TEST_ALLOW", timeout=5, resolve=resolver, verify=trust
        ) as client,
    ):
        response = await client.post(f"https://{NAME}:{port}/hook", content=b"{}")
        assert response.status_code == 200
        assert listener.sni == [NAME]
        assert listener.host_headers() == [f"{NAME}:{port}"]
        # Another name on the same address gets its own connection, whose certificate
        # is not for it: refused, not carried over the first name's connection.
        with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
            await client.post(f"https://other.example.test:{port}/hook", content=b"{}")
        assert listener.sni == [NAME, "other.example.test"]
        assert len(listener.requests) == 1


def _server_context(
    authority: Authority, names: list[x509.GeneralName], tmp_path: Path
) -> ssl.SSLContext:
    cert_pem, key_pem = authority.issue(names)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


def _settings(allowed: list[str]) -> Settings:
    return Settings(environment="test", notification_allowed_hosts=allowed)


async def test_a_webhook_try_goes_to_the_checked_address() -> None:
    port = free_port()
    resolver = Rebinding(["127.0.0.1"], ["127.0.0.2"])
    sender = Sender(_settings(["127.0.0.1"]), resolve=resolver)
    async with listening("127.0.0.1", port) as checked, listening("127.0.0.2", port) as inner:
        try:
            kwargs = {
                "kind": "webhook",
                "config": {"url": f"http://{NAME}:{port}/hook"},
                "secrets": {"signing": []},
                "msg_id": "msg_1",
                "body": {"type": "job.completed", "data": {}},
                "now": datetime.now(UTC),
            }
            sent = await sender.send(**kwargs)  # type: ignore[arg-type]
            assert sent.ok, sent
            assert checked.host_headers() == [f"{NAME}:{port}"] and inner.requests == []
            refused = await sender.send(**kwargs)  # type: ignore[arg-type]
            assert not refused.ok and refused.permanent
            assert "JOBDECK_NOTIFICATION_ALLOWED_HOSTS" in (refused.error or "")
            assert inner.requests == []
        finally:
            await sender.aclose()


async def test_an_email_try_goes_to_the_checked_address() -> None:
    inbox, port = TlsInbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    resolver = Rebinding(["127.0.0.1"], ["10.0.0.9"])
    sender = Sender(_settings(["127.0.0.1"]), resolve=resolver)
    email = {
        "host": "mail.example.test",
        "port": port,
        "security": "none",
        "sender": "jobdeck@example.com",
        "to": ["ops@example.com"],
    }
    kwargs = {
        "kind": "email",
        "config": email,
        "secrets": {},
        "msg_id": "msg_1",
        "body": {"type": "job.completed", "data": {"name": "nightly"}},
        "now": datetime.now(UTC),
    }
    try:
        sent = await sender.send(**kwargs)  # type: ignore[arg-type]
        assert sent.ok, sent
        assert len(inbox.messages) == 1
        assert resolver.asked == [("mail.example.test", port)]
        refused = await sender.send(**kwargs)  # type: ignore[arg-type]
        assert not refused.ok and refused.permanent and "10.0.0.9" in (refused.error or "")
        assert len(inbox.messages) == 1
    finally:
        controller.stop()
        await sender.aclose()


async def test_an_endless_answer_is_read_only_as_far_as_its_excerpt() -> None:
    """A receiver that answers 200 with a body that never ends: the try is judged by its
    status and an excerpt, and the sender hangs up instead of reading on."""
    hung_up = asyncio.Event()

    async def endless(request: Request) -> Response:
        return endless_answer(request, hung_up.set, b"ok " * 20_000)

    app = Starlette(routes=[Route("/hook", endless, methods=["POST"])])
    sender = Sender(_settings(["127.0.0.1"]))
    async with serving(app) as url:
        try:
            sent = await asyncio.wait_for(
                sender.send(
                    kind="webhook",
                    config={"url": f"{url}/hook"},
                    secrets={"signing": []},
                    msg_id="msg_1",
                    body={"type": "job.completed", "data": {}},
                    now=datetime.now(UTC),
                ),
                timeout=30,
            )
            assert sent.ok and sent.status_code == 200, sent
            assert sent.response == ("ok " * 200)[:EXCERPT_CHARS]
            await asyncio.wait_for(hung_up.wait(), timeout=5)
        finally:
            await sender.aclose()
