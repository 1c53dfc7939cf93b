"""Checking a channel's settings and splitting them into what may be shown (config) and
what is sealed (secrets): a webhook's signing secrets, a Slack or Discord URL, an SMTP
password."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from jobdeck.config import Settings
from jobdeck.errors import InvalidInput
from jobdeck.notifications import signing
from jobdeck.notifications.addresses import check_host, check_http_url
from jobdeck.notifications.events import ChannelKind


async def checked_url(url: str | None, kind: ChannelKind, settings: Settings) -> str:
    if not url:
        raise InvalidInput(f"a {kind.value} channel needs a url")
    host = check_http_url(url)
    await check_host(host, settings.notification_allowed_hosts)
    return url


async def prepare(
    *,
    kind: ChannelKind,
    url: str | None,
    secret: str | None,
    email: dict[str, Any] | None,
    settings: Settings,
) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """(config, secrets, the secret to show once) of a new channel; InvalidInput when a
    setting is missing, malformed, or points at a refused address."""
    if kind is ChannelKind.EMAIL:
        if email is None:
            raise InvalidInput("an email channel needs its email settings (host, sender, to)")
        if url is not None or secret is not None:
            raise InvalidInput("an email channel takes email settings, not url or secret")
        return await email_config(email, settings), {"password": email.get("password")}, None
    if email is not None:
        raise InvalidInput(f"a {kind.value} channel takes a url, not email settings")
    checked = await checked_url(url, kind, settings)
    if kind is ChannelKind.WEBHOOK:
        shown = secret or signing.new_secret()
        signing.secret_key(shown)  # refuses a malformed one
        return {"url": checked}, {"signing": [{"secret": shown, "expiresAt": None}]}, shown
    if secret is not None:
        raise InvalidInput(f"a {kind.value} channel has no signing secret: its URL is its secret")
    # The path of a Slack or Discord URL is its token: config keeps the origin only.
    return {"url": redacted_url(checked)}, {"url": checked}, None


async def email_config(email: dict[str, Any], settings: Settings) -> dict[str, Any]:
    await check_host(email["host"], settings.notification_allowed_hosts)
    return {k: v for k, v in email.items() if k != "password"}


def redacted_url(url: str) -> str:
    """A Slack or Discord URL as it may be shown: its origin; the path is the token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"


def rotated(
    secrets: dict[str, Any], *, now: datetime, overlap_s: float
) -> tuple[dict[str, Any], str, datetime]:
    """The secrets after a rotation: a new current secret, and the old one signing beside
    it until the overlap ends (older ones are dropped)."""
    until = now + timedelta(seconds=overlap_s)
    current = [s for s in secrets.get("signing", []) if s.get("expiresAt") is None]
    new = signing.new_secret()
    kept = [{"secret": s["secret"], "expiresAt": until.isoformat()} for s in current]
    return {**secrets, "signing": [{"secret": new, "expiresAt": None}, *kept]}, new, until
