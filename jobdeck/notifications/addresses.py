"""SSRF guard: a receiver's host must resolve only to public addresses, unless its name,
address or network is allow-listed (`notification_allowed_hosts`). Checked when a channel
is saved and again before every try (a name may resolve elsewhere later)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from jobdeck.errors import InvalidInput

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeAddress(InvalidInput):
    message = "the receiver's address is not allowed"


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


def _allowed(host: str, address: Address, allowed: list[str]) -> bool:
    for entry in allowed:
        if entry.casefold() == host.casefold():
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue  # a host name entry
    return False


def is_public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


async def resolve(host: str) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise InvalidInput(f"the host {host!r} does not resolve") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def check_host(host: str, allowed: list[str]) -> None:
    """Refuse a host that resolves to a loopback, link-local, private or otherwise
    non-public address, unless allow-listed."""
    for address in await resolve(host):
        if not is_public(address) and not _allowed(host, address, allowed):
            raise UnsafeAddress(
                f"the host {host!r} resolves to {address}, a loopback, link-local or "
                "private address; receivers there are refused unless listed in "
                "JOBDECK_NOTIFICATION_ALLOWED_HOSTS"
            )
