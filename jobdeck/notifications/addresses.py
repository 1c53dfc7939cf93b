"""SSRF guard for notification receivers (the checks live in jobdeck/outbound.py, shared
with pipeline http steps): a receiver's host must resolve only to public addresses, unless
its name, address or network is allow-listed (`notification_allowed_hosts`). Checked when a
channel is saved; each try checks it again and connects to the address it checked."""

from __future__ import annotations

from urllib.parse import urlsplit

from jobdeck.errors import InvalidInput
from jobdeck.outbound import AddressRefused, checked_addresses, is_public

__all__ = ["ALLOW_SETTING", "UnsafeAddress", "check_host", "check_http_url", "is_public"]

ALLOW_SETTING = "JOBDECK_NOTIFICATION_ALLOWED_HOSTS"
UnsafeAddress = AddressRefused


def check_http_url(url: str) -> str:
    """The URL's host, if the URL is an absolute http(s) URL; InvalidInput otherwise."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError as err:
        raise InvalidInput(f"not a valid URL: {err}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("the URL must be an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise InvalidInput("the URL must not hold a user name or password")
    return parts.hostname


async def check_host(host: str, allowed: list[str], port: int = 443) -> None:
    """Refuse a host that resolves to a loopback, link-local, private or otherwise
    non-public address, unless allow-listed."""
    await checked_addresses(host, port, allowed, setting=ALLOW_SETTING)
