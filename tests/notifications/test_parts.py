"""The parts under the deliveries: Standard Webhooks signing against the reference
library, the SSRF address check, the sealed secrets, and each kind's message limits."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from standardwebhooks.webhooks import Webhook

from jobdeck.config import Settings
from jobdeck.notifications import render, signing
from jobdeck.notifications.addresses import UnsafeAddress, check_host, is_public
from jobdeck.notifications.vault import SecretUnreadable, Vault


def test_signatures_match_the_reference_library() -> None:
    secret = signing.new_secret()
    body = b'{"type":"job.completed","data":{"name":"caf\xc3\xa9"}}'
    when = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
    ours = signing.signature(secret, "msg_1", int(when.timestamp()), body)
    assert ours == Webhook(secret).sign("msg_1", when, body.decode())
    headers = signing.headers([signing.new_secret(), secret], "msg_1", int(when.timestamp()), body)
    assert len(headers["webhook-signature"].split(" ")) == 2


@pytest.mark.parametrize("bad", ["s3cret", "whsec_", "whsec_not base64!", "whsec_" + "QUFB" * 2])
def test_bad_secrets_are_refused(bad: str) -> None:
    with pytest.raises(signing.InvalidInput):
        signing.secret_key(bad)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("2606:4700::1111", True),
    ],
)
def test_only_public_addresses_pass(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


async def test_the_allow_list_takes_names_addresses_and_networks() -> None:
    with pytest.raises(UnsafeAddress, match="JOBDECK_NOTIFICATION_ALLOWED_HOSTS"):
        await check_host("10.1.2.3", [])
    await check_host("10.1.2.3", ["10.0.0.0/8"])
    await check_host("127.0.0.1", ["127.0.0.1"])
    await check_host("10.1.2.3", ["10.1.2.3"])
    with pytest.raises(UnsafeAddress):
        await check_host("10.1.2.3", ["10.9.0.0/16", "example.com"])


def test_sealed_secrets_open_only_with_their_key(tmp_path: object) -> None:
    vault = Vault(Fernet.generate_key())
    token = vault.seal({"url": "https://hooks.slack.com/services/T/B/secret"})
    assert "secret" not in token
    assert vault.open(token)["url"].endswith("/secret")
    with pytest.raises(SecretUnreadable, match="set the secret again"):
        Vault(Fernet.generate_key()).open(token)


def test_the_key_file_is_made_once(tmp_path: object) -> None:
    from pathlib import Path

    data = Path(str(tmp_path))
    settings = Settings(data_dir=data)
    token = Vault.of(settings).seal({"a": 1})
    assert (data / "notification-key").stat().st_mode & 0o777 == 0o600
    assert Vault.of(Settings(data_dir=data)).open(token) == {"a": 1}


def test_discord_content_stays_within_its_limit() -> None:
    body = {
        "type": "job.failed",
        "timestamp": "2026-12-06T08:00:00Z",
        "data": {"jobId": "j", "job": {"name": "n" * 3000, "error": {"message": "e" * 9000}}},
    }
    discord = json.loads(render.discord_body(body))
    assert len(discord["content"]) <= render.DISCORD_CONTENT_MAX
    assert all(len(f["value"]) <= 1024 for f in discord["embeds"][0]["fields"])
    subject, text, markup = render.email_parts(body)
    assert len(subject) <= 200 and "\n" not in subject and text and markup
