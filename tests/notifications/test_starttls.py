"""Email over STARTTLS against a real TLS server: an aiosmtpd server that requires
STARTTLS, with a certificate from a CA made in the test. A server whose certificate is not
trusted (or not for its name) is refused with a clear delivery error; a channel trusts a
private CA only when given that CA's certificate (`caCert`). Verification is never off."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import Message
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fakes.serving import free_port
from tests.notifications.conftest import Org
from tests.notifications.test_channels import channel, stuck
from tests.notifications.test_delivery import settled


@dataclass
class Authority:
    """A self-signed CA and a way to issue server certificates from it."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def issue(self, names: list[x509.GeneralName]) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM) of a server certificate for these names."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp test")]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        return (
            cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )


def new_authority(name: str) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)  # self-signed
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return Authority(key, cert)


LOCAL = [x509.IPAddress(IPv4Address("127.0.0.1")), x509.DNSName("localhost")]


class TlsInbox:
    """Takes mail only after STARTTLS (aiosmtpd refuses MAIL before it) and notes the
    TLS version each message came over."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.tls_versions: list[str | None] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        tls = session.ssl or {}
        obj = tls.get("ssl_object")
        self.tls_versions.append(obj.version() if obj is not None else None)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@dataclass
class TlsServer:
    inbox: TlsInbox
    port: int


@pytest.fixture(scope="module")
def authority() -> Authority:
    return new_authority("jobdeck test CA")


@pytest.fixture
def server_context(
    authority: Authority, tmp_path: Path, request: pytest.FixtureRequest
) -> ssl.SSLContext:
    names: list[x509.GeneralName] = getattr(request, "param", LOCAL)
    cert_pem, key_pem = authority.issue(names)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


@pytest.fixture
def tls_server(server_context: ssl.SSLContext) -> Iterator[TlsServer]:
    inbox = TlsInbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_context,
        require_starttls=True,
    )
    controller.start()
    try:
        yield TlsServer(inbox, port)
    finally:
        controller.stop()


def email(server: TlsServer, **changes: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": server.port,
        "sender": "jobdeck@example.com",
        "to": ["ops@example.com"],
        **changes,
    }


async def try_send(org: Org, created: dict[str, Any]) -> dict[str, Any]:
    response = await org.api.post(f"/api/notifications/channels/{created['id']}/test")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_email_is_delivered_over_starttls_to_a_server_of_a_given_ca(
    org: Org, tls_server: TlsServer, authority: Authority
) -> None:
    created = await channel(
        org, ["job.stuck"], kind="email", email=email(tls_server, caCert=authority.pem)
    )
    assert created["email"]["security"] == "starttls"  # the default
    assert created["email"]["caCert"] == authority.pem  # a certificate: no secret
    await stuck(org, name="nightly")
    [delivery] = await settled(org, created["id"], 1)
    assert delivery["status"] == "delivered", delivery
    [message] = tls_server.inbox.messages
    assert message["Subject"].startswith("Job “nightly” is stuck")
    assert tls_server.inbox.tls_versions[0] in ("TLSv1.2", "TLSv1.3")
    result = await try_send(org, created)
    assert result["delivered"] is True, result
    assert len(tls_server.inbox.messages) == 2


async def test_a_server_whose_certificate_is_not_trusted_is_refused(
    org: Org, tls_server: TlsServer
) -> None:
    # Signed by a CA the system does not know, and the channel names none.
    created = await channel(org, ["job.stuck"], kind="email", email=email(tls_server))
    result = await try_send(org, created)
    assert result["delivered"] is False
    assert "TLS refused: the SMTP server's certificate is not trusted" in result["error"]
    assert "email.caCert" in result["error"]
    # A durable delivery logs the same reason on each try (and is retried: a server may
    # get a good certificate).
    await stuck(org)
    log: dict[str, Any] = {}
    for _ in range(200):
        [delivery] = (
            await org.api.get(f"/api/notifications/channels/{created['id']}/deliveries")
        ).json()["items"]
        log = (await org.api.get(f"/api/notifications/deliveries/{delivery['id']}")).json()
        if log["attemptLog"]:
            break
        await asyncio.sleep(0.05)
    assert "certificate is not trusted" in log["attemptLog"][0]["error"], log
    assert tls_server.inbox.messages == []


async def test_a_certificate_of_another_ca_is_refused(org: Org, tls_server: TlsServer) -> None:
    stranger = new_authority("some other CA")
    created = await channel(
        org, ["job.stuck"], kind="email", email=email(tls_server, caCert=stranger.pem)
    )
    result = await try_send(org, created)
    assert result["delivered"] is False
    assert "certificate is not trusted" in result["error"], result
    assert tls_server.inbox.messages == []


@pytest.mark.parametrize("server_context", [[x509.DNSName("mail.example.com")]], indirect=True)
async def test_a_certificate_for_another_name_is_refused(
    org: Org, tls_server: TlsServer, authority: Authority
) -> None:
    created = await channel(
        org, ["job.stuck"], kind="email", email=email(tls_server, caCert=authority.pem)
    )
    result = await try_send(org, created)
    assert result["delivered"] is False
    assert "certificate is not trusted" in result["error"], result
    assert "not valid for '127.0.0.1'" in result["error"]
    assert "set host to a name the certificate is for" in result["error"]
    assert tls_server.inbox.messages == []


MARK = "ZZsubmittedZZ"  # in each bad value: the answer must not repeat what was sent
BEGIN, END = "-----BEGIN CERTIFICATE-----\n", "\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"caCert": f"hello {MARK}"}, "not a PEM certificate"),
        ({"caCert": f"{BEGIN}AAAA{MARK}{END}"}, "certificate 1 of 1 is damaged"),
        ({"caCert": "CA-CUT"}, "has no -----END CERTIFICATE----- line"),
        ({"caCert": f"CA{BEGIN}MIIB{MARK}{END}"}, "certificate 2 of 2 is damaged"),
        ({"caCert": f"-----BEGIN PRIVATE KEY-----\n{MARK}\n"}, "holds a private key"),
        ({"caCert": f"{BEGIN}{MARK * 4000}{END}"}, "at most 50000 characters"),
        ({"security": "none", "caCert": "CA"}, "caCert is for security starttls or tls"),
    ],
)
async def test_a_bad_ca_certificate_is_refused(
    org: Org, changes: dict[str, Any], says: str, authority: Authority
) -> None:
    ca = changes.get("caCert", "")
    if ca == "CA-CUT":
        ca = authority.pem[: len(authority.pem) // 2] + MARK
    elif ca.startswith("CA"):
        ca = authority.pem + ca[2:]
    changes = {**changes, "caCert": ca}
    settings = {"host": "127.0.0.1", "port": 25, "sender": "a@example.com", "to": ["b@example.com"]}
    response = await org.api.post(
        "/api/notifications/channels",
        json={"name": "c", "kind": "email", "email": {**settings, **changes}},
    )
    assert response.status_code == 422, response.text
    assert says in response.json()["detail"], response.text
    assert "email.caCert" in response.json()["detail"] or "security" in changes
    assert MARK not in response.text  # not echoed
    assert (await org.api.get("/api/notifications/channels")).json()["items"] == []
