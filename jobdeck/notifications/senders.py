"""One try of one delivery, over HTTP (webhook, Slack, Discord) or SMTP (email). A try
never raises for the receiver's sake: it returns what happened, for the log."""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx

from jobdeck.config import Settings
from jobdeck.errors import InvalidInput
from jobdeck.notifications import render, signing
from jobdeck.notifications.addresses import ALLOW_SETTING, check_http_url
from jobdeck.notifications.events import ChannelKind
from jobdeck.outbound import (
    Resolver,
    capped_request,
    guarded_client,
    pinned_socket,
    system_resolve,
)
from jobdeck.providers.headers import retry_after_s

EXCERPT_CHARS = 500
# The most of a receiver's answer read: the excerpt, or a rate-limit answer's JSON.
ANSWER_BYTES = 64 * 1024


@dataclass
class SendResult:
    ok: bool
    status_code: int | None = None
    response: str | None = None  # an excerpt of the receiver's answer
    error: str | None = None
    retry_after_s: float | None = None  # what the receiver asked us to wait (a 429)
    permanent: bool = False  # trying again cannot help (the address is refused)


def live_signing_secrets(secrets: dict[str, Any], now: datetime) -> list[str]:
    """The webhook secrets that still sign: the current one, and a rotated-out one until
    its overlap ends."""
    return [
        s["secret"]
        for s in secrets.get("signing", [])
        if s.get("expiresAt") is None or datetime.fromisoformat(s["expiresAt"]) > now
    ]


def _retry_after(response: httpx.Response, answer: bytes) -> float | None:
    if response.status_code != 429:
        return None
    try:  # Discord says it in the body, in seconds (a float)
        value = json.loads(answer).get("retry_after")
        if isinstance(value, int | float) and value >= 0:
            return float(value)
    except (ValueError, AttributeError):
        pass
    return retry_after_s(response.headers)


def _certificate_error(err: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate check that failed, where aiosmtplib wrapped it (or not)."""
    seen: BaseException | None = err
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class Sender:
    """Holds the HTTP client every try shares (built once per worker or API process).

    Each try resolves the receiver's host once, checks every address (jobdeck/outbound.py)
    and connects to a checked one, keeping the name for Host, SNI and the certificate."""

    def __init__(
        self,
        settings: Settings,
        *,
        resolve: Resolver = system_resolve,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.settings = settings
        self.resolve = resolve
        # Redirects are not followed: a public URL must not bounce a try to a private one.
        self.http = guarded_client(
            settings.notification_allowed_hosts,
            setting=ALLOW_SETTING,
            timeout=settings.notification_timeout_s,
            resolve=resolve,
            verify=verify,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def send(
        self,
        *,
        kind: str,
        config: dict[str, Any],
        secrets: dict[str, Any],
        msg_id: str,
        body: dict[str, Any],
        now: datetime,
    ) -> SendResult:
        try:
            if kind == ChannelKind.EMAIL:
                return await self._email(config, secrets, msg_id, body)
            url, content, headers = self._request(kind, config, secrets, msg_id, body, now)
            check_http_url(url)
        except InvalidInput as err:
            return SendResult(ok=False, error=str(err), permanent=True)
        return await self._post(url, content, headers)

    def _request(
        self,
        kind: str,
        config: dict[str, Any],
        secrets: dict[str, Any],
        msg_id: str,
        body: dict[str, Any],
        now: datetime,
    ) -> tuple[str, bytes, dict[str, str]]:
        if kind == ChannelKind.WEBHOOK:
            content = render.webhook_body(body)
            live = live_signing_secrets(secrets, now)
            return (
                config["url"],
                content,
                signing.headers(live, msg_id, int(now.timestamp()), content),
            )
        headers = {"content-type": "application/json"}
        if kind == ChannelKind.SLACK:
            return secrets["url"], render.slack_body(body), headers
        if kind == ChannelKind.DISCORD:
            return secrets["url"], render.discord_body(body), headers
        raise InvalidInput(f"unknown channel kind {kind!r}")

    async def _post(self, url: str, content: bytes, headers: dict[str, str]) -> SendResult:
        try:
            # A receiver's answer is only glanced at (an excerpt, Discord's retry_after):
            # reading more would let an endless body fill the worker's memory.
            response, answer, _ = await capped_request(
                self.http, "POST", url, limit=ANSWER_BYTES, content=content, headers=headers
            )
        except InvalidInput as err:  # the address check refused it (outbound.py)
            return SendResult(ok=False, error=str(err), permanent=True)
        except httpx.HTTPError as err:
            # Never the URL: a Slack or Discord URL is the channel's secret.
            return SendResult(ok=False, error=f"{type(err).__name__}: could not reach the receiver")
        text = answer.decode(response.encoding or "utf-8", errors="replace")
        excerpt = text[:EXCERPT_CHARS] if answer else None
        ok = 200 <= response.status_code < 300
        return SendResult(
            ok=ok,
            status_code=response.status_code,
            response=excerpt,
            error=None if ok else f"the receiver answered {response.status_code}",
            retry_after_s=_retry_after(response, answer),
        )

    async def _email(
        self, config: dict[str, Any], secrets: dict[str, Any], msg_id: str, body: dict[str, Any]
    ) -> SendResult:
        subject, text, markup = render.email_parts(body)
        message = EmailMessage()
        message["From"] = config["sender"]
        message["To"] = ", ".join(config["to"])
        message["Subject"] = subject
        message["Message-ID"] = f"<{msg_id}@jobdeck>"
        message.set_content(text)
        message.add_alternative(markup, subtype="html")
        security = config.get("security", "starttls")
        ca_cert = config.get("ca_cert")
        # The server's name resolved and checked once; the connection goes to that address,
        # the name kept for STARTTLS/TLS (SNI and the certificate's name check). The socket
        # is aiosmtplib's from here: its transport closes it.
        try:
            sock = await pinned_socket(
                config["host"],
                config["port"],
                self.settings.notification_allowed_hosts,
                setting=ALLOW_SETTING,
                connect_within_s=self.settings.notification_timeout_s,
                resolve=self.resolve,
            )
        except OSError as err:
            return SendResult(
                ok=False,
                error=f"{type(err).__name__}: could not reach the SMTP server {config['host']} "
                f"on port {config['port']}"[:EXCERPT_CHARS],
            )
        try:
            # Certificates are always verified: against the channel's own CA when it has
            # one (a private or self-signed server), else against the system's CAs.
            tls_context = ssl.create_default_context(cadata=ca_cert) if ca_cert else None
            errors, reply = await aiosmtplib.send(
                message,
                hostname=config["host"],
                sock=sock,
                username=config.get("username"),
                password=secrets.get("password"),
                use_tls=security == "tls",
                # "starttls" insists on it; "none" is for a relay on a trusted network.
                start_tls=True if security == "starttls" else False if security == "none" else None,
                tls_context=tls_context,
                timeout=self.settings.notification_timeout_s,
            )
        except aiosmtplib.SMTPResponseException as err:
            return SendResult(
                ok=False,
                status_code=err.code,
                error=f"SMTP {err.code}: {err.message}"[:EXCERPT_CHARS],
            )
        except (aiosmtplib.SMTPException, OSError) as err:
            untrusted = _certificate_error(err)
            if untrusted is not None:
                why = str(untrusted.verify_message).rstrip(".")
                hint = (
                    "set host to a name the certificate is for"
                    if "mismatch" in why
                    else "if a private CA signed it, give the channel that CA's certificate "
                    "(email.caCert)"
                )
                return SendResult(
                    ok=False,
                    error=(
                        f"TLS refused: the SMTP server's certificate is not trusted ({why}); "
                        + hint
                    )[:EXCERPT_CHARS],
                )
            return SendResult(ok=False, error=f"{type(err).__name__}: {err}"[:EXCERPT_CHARS])
        refused = "; ".join(f"{rcpt}: {resp.code}" for rcpt, resp in errors.items())
        return SendResult(
            ok=not refused,
            status_code=250,
            response=(reply or "")[:EXCERPT_CHARS],
            error=f"recipients refused: {refused}" if refused else None,
        )
