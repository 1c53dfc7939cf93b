"""Connections to addresses people give jobdeck (notification receivers: webhook, Slack,
Discord, SMTP; pipeline `http` steps), guarded against server-side request forgery.

A host name is resolved once per connection, every address it resolves to is checked
(loopback, link-local, private, multicast and other non-public addresses are refused
unless the name, the address or its network is allow-listed), and the connection goes to
a checked address. The request keeps the name for its Host header, its TLS SNI and the
certificate's name check. Nothing resolves the name a second time, so a name that answers
with a public address for the check and an inner one for the connection (DNS rebinding)
reaches nothing inside.

These connections never go through HTTP(S)_PROXY: a proxy would resolve the name itself,
and the address checked would not be the one reached.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from jobdeck.errors import InvalidInput

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses the host resolves to; tests give one of their own.
Resolver = Callable[[str, int], Awaitable[list[Address]]]


class AddressRefused(InvalidInput):
    """The host resolves to an address outbound calls may not reach."""

    message = "the address is not allowed"


class Unresolvable(InvalidInput):
    """The host does not resolve (now)."""

    message = "the host does not resolve"


def is_public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def is_allowed(host: str, address: Address, allowed: list[str]) -> bool:
    """Whether an allow-list entry names the host, or the address or a network holding it."""
    for entry in allowed:
        if entry.casefold() == host.casefold():
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue  # a host name entry
    return False


async def system_resolve(host: str, port: int) -> list[Address]:
    """The host's addresses, as the system resolver gives them (an address is itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Unresolvable(f"the host {host!r} does not resolve") from None
    found = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    return list(dict.fromkeys(found))


async def checked_addresses(
    host: str,
    port: int,
    allowed: list[str],
    *,
    setting: str,
    resolve: Resolver = system_resolve,
) -> list[Address]:
    """The host's addresses, resolved once, each one public or allow-listed; AddressRefused
    (naming `setting`, the allow-list to change) if any is not."""
    addresses = await resolve(host, port)
    if not addresses:
        raise Unresolvable(f"the host {host!r} does not resolve")
    for address in addresses:
        if not is_public(address) and not is_allowed(host, address, allowed):
            raise AddressRefused(
                f"the host {host!r} resolves to {address}, a loopback, link-local or private "
                f"address (or another that is not public); refused unless listed in {setting}"
            )
    return addresses


def _default_port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


class PinnedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that checks each request's host (see the module's doc) and
    connects to the first of its checked addresses that answers.

    Connections are pooled per host name: a connection made (and its certificate checked)
    for one name is never used for another name that resolves to the same address. A
    long-lived transport (shared by every call of a worker) keeps the pools of its
    `max_hosts` latest names; an older name's pool is closed once no response of it is
    open. The pools share one TLS context (trusted authorities, not names)."""

    def __init__(
        self,
        allowed: list[str],
        *,
        setting: str,
        resolve: Resolver = system_resolve,
        verify: ssl.SSLContext | bool = True,
        max_hosts: int = 64,
    ) -> None:
        self.allowed = list(allowed)
        self.setting = setting
        self.resolve = resolve
        self.verify = verify
        self.max_hosts = max_hosts
        self._tls: ssl.SSLContext | None = verify if isinstance(verify, ssl.SSLContext) else None
        # Least recently used first; with the responses of each still open.
        self._pools: OrderedDict[str, httpx.AsyncHTTPTransport] = OrderedDict()
        self._open: dict[str, int] = {}

    async def _pool(self, host: str) -> httpx.AsyncHTTPTransport:
        pool = self._pools.get(host)
        if pool is not None:
            self._pools.move_to_end(host)
            return pool
        idle = [h for h in self._pools if not self._open.get(h)]
        for old in idle[: max(0, len(self._pools) + 1 - self.max_hosts)]:
            await self._pools.pop(old).aclose()
        if self._tls is None and self.verify is not False:
            self._tls = httpx.create_ssl_context(verify=self.verify, trust_env=False)
        pool = self._pools[host] = httpx.AsyncHTTPTransport(
            verify=self._tls if self._tls is not None else False, trust_env=False
        )
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise InvalidInput("only http:// and https:// URLs are called")
        host = url.host
        addresses = await checked_addresses(
            host, _default_port(url), self.allowed, setting=self.setting, resolve=self.resolve
        )
        extensions = dict(request.extensions)
        if url.scheme == "https":
            # The certificate is checked for the name, not for the address connected to.
            extensions["sni_hostname"] = host
        pool = await self._pool(host)
        self._open[host] = self._open.get(host, 0) + 1
        try:
            for index, address in enumerate(addresses):
                pinned = httpx.Request(
                    request.method,
                    url.copy_with(host=str(address)),
                    headers=request.headers,  # Host: the name, as the client set it
                    stream=request.stream,
                    extensions=extensions,
                )
                try:
                    response = await pool.handle_async_request(pinned)
                except httpx.ConnectError:
                    # Nothing was sent: the next checked address may answer.
                    if index == len(addresses) - 1:
                        raise
                    continue
                assert isinstance(response.stream, httpx.AsyncByteStream)
                return httpx.Response(
                    status_code=response.status_code,
                    headers=response.headers,
                    stream=_Held(response.stream, lambda: self._release(host)),
                    extensions=response.extensions,
                )
        except BaseException:
            self._release(host)
            raise
        raise AssertionError("unreachable: checked_addresses returns at least one")

    def _release(self, host: str) -> None:
        left = self._open.get(host, 0) - 1
        if left > 0:
            self._open[host] = left
        else:
            self._open.pop(host, None)

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), OrderedDict()
        for pool in pools:
            await pool.aclose()


class _Held(httpx.AsyncByteStream):
    """A response's body, which keeps its host's pool open until it is closed."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self.stream = stream
        self.release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self.stream.aclose()
        finally:
            release, self.release = self.release, None
            if release is not None:
                release()


def guarded_client(
    allowed: list[str],
    *,
    setting: str,
    timeout: float,
    resolve: Resolver = system_resolve,
    verify: ssl.SSLContext | bool = True,
) -> httpx.AsyncClient:
    """An httpx client whose every request goes through PinnedTransport. Redirects are not
    followed: a public URL must not bounce a request inward. Cookies are never kept: the
    client may serve every organization's calls, and one receiver's cookie must not go
    out with another's request."""
    return httpx.AsyncClient(
        transport=PinnedTransport(allowed, setting=setting, resolve=resolve, verify=verify),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
    )


async def capped_request(
    client: httpx.AsyncClient, method: str, url: str, *, limit: int, **kwargs: Any
) -> tuple[httpx.Response, bytes, bool]:
    """The response, at most `limit` bytes of its body, and whether there was more. The
    body is streamed and the rest is never read: an endless or huge answer from a URL a
    user gave costs the worker `limit` bytes, not all its memory."""
    body = bytearray()
    async with client.stream(method, url, **kwargs) as response:
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > limit:
                return response, bytes(body[:limit]), True
    return response, bytes(body), False


async def pinned_socket(
    host: str,
    port: int,
    allowed: list[str],
    *,
    setting: str,
    connect_within_s: float,
    resolve: Resolver = system_resolve,
) -> socket.socket:
    """A TCP socket connected to a checked address of the host (for a client that takes
    a connected socket and the host name for TLS, e.g. aiosmtplib's `sock`)."""
    addresses = await checked_addresses(host, port, allowed, setting=setting, resolve=resolve)
    loop = asyncio.get_running_loop()
    error: OSError | None = None
    for address in addresses:
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            async with asyncio.timeout(connect_within_s):
                await loop.sock_connect(sock, (str(address), port))
        except OSError as err:  # TimeoutError included
            sock.close()
            error = err
            continue
        return sock
    assert error is not None
    raise error
