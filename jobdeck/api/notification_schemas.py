"""Wire schemas for notifications (camelCase JSON): channels, rules, deliveries."""

from __future__ import annotations

import base64
import binascii
import re
import ssl
from datetime import datetime
from typing import Literal

from cryptography import x509
from pydantic import Field, field_validator, model_validator

from jobdeck.api.schemas import Schema
from jobdeck.api.text import StorableText
from jobdeck.notifications.events import EVENTS, ChannelKind

# Deliberately plain: one @, no spaces or angle brackets, a dotted domain.
_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")


def check_email(value: str) -> str:
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an email address like name@example.com")
    return value


_PEM_CERTIFICATE = re.compile(
    r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.DOTALL
)


def check_ca_cert(value: str) -> str:
    """PEM certificates a TLS context can trust, and nothing secret. A refusal says what
    is wrong and where, never repeating the value (which may be a whole pasted file)."""
    if "PRIVATE KEY" in value:
        raise ValueError("holds a private key; give the CA's certificate only (never its key)")
    if "-----BEGIN CERTIFICATE-----" not in value:
        raise ValueError(
            "not a PEM certificate: paste the CA's certificate, from its "
            "-----BEGIN CERTIFICATE----- line to its -----END CERTIFICATE----- line"
        )
    bodies = _PEM_CERTIFICATE.findall(value)
    if value.count("-----BEGIN CERTIFICATE-----") != len(bodies):
        raise ValueError(
            "not a readable PEM certificate: a -----BEGIN CERTIFICATE----- line has no "
            "-----END CERTIFICATE----- line after it (copied in part?)"
        )
    for number, body in enumerate(bodies, 1):
        try:
            x509.load_der_x509_certificate(base64.b64decode("".join(body.split()), validate=True))
        except (ValueError, binascii.Error):
            raise ValueError(
                f"not a readable PEM certificate: certificate {number} of {len(bodies)} is "
                "damaged (the text between its BEGIN and END lines is not a certificate)"
            ) from None
    try:
        ssl.create_default_context(cadata=value)
    except (ssl.SSLError, ValueError):
        raise ValueError("not a readable PEM certificate: it cannot be trusted as a CA") from None
    return value


class EmailSettings(Schema, StorableText):
    host: str = Field(min_length=1, max_length=253, description="The SMTP server")
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="starttls: upgrade a plain connection (required); tls: TLS from the "
        "start (port 465); none: no encryption (a relay on a trusted network only)",
    )
    username: str | None = Field(default=None, max_length=200)
    password: str | None = Field(
        default=None, max_length=500, description="Encrypted at rest, never returned"
    )
    sender: str = Field(max_length=254, description="The From address")
    to: list[str] = Field(min_length=1, max_length=20, description="Recipients")
    ca_cert: str | None = Field(
        default=None,
        max_length=50_000,
        description="starttls, tls: the PEM certificate(s) of the CA that signed the server's "
        "certificate (a private or self-signed one), trusted instead of the system's CAs. "
        "The server's certificate and name are always verified",
    )

    @field_validator("ca_cert")
    @classmethod
    def _ca_cert(cls, value: str | None) -> str | None:
        return None if value is None else check_ca_cert(value)

    @model_validator(mode="after")
    def _ca_needs_tls(self) -> EmailSettings:
        if self.ca_cert is not None and self.security == "none":
            raise ValueError("caCert is for security starttls or tls; security none sends no TLS")
        return self

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return check_email(value)

    @field_validator("to")
    @classmethod
    def _to(cls, value: list[str]) -> list[str]:
        return [check_email(v) for v in value]


class EmailPublic(Schema):
    host: str
    port: int
    security: str
    username: str | None
    sender: str
    to: list[str]
    ca_cert: str | None = Field(default=None, description="The CA trusted for this server")


class ChannelCreate(Schema, StorableText):
    name: str = Field(min_length=1, max_length=200)
    kind: ChannelKind
    url: str | None = Field(
        default=None,
        max_length=2000,
        description="webhook: the receiver's URL; slack, discord: the incoming webhook URL "
        "(a secret: encrypted at rest, never returned whole)",
    )
    secret: str | None = Field(
        default=None,
        max_length=200,
        description="webhook: a whsec_ signing secret; one is made when absent. Returned "
        "once, in this response",
    )
    email: EmailSettings | None = Field(default=None, description="email: the SMTP settings")
    enabled: bool = True


class ChannelUpdate(Schema, StorableText):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    url: str | None = Field(default=None, max_length=2000)
    email: EmailSettings | None = None
    enabled: bool | None = Field(
        default=None, description="true also re-enables a channel disabled for failing"
    )


class ChannelPublic(Schema):
    id: str
    name: str
    kind: ChannelKind
    url: str | None = Field(description="webhook: its URL; slack, discord: redacted")
    email: EmailPublic | None
    enabled: bool
    disabled: bool = Field(description="Disabled because every delivery failed too long")
    disabled_at: datetime | None
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime


class ChannelCreated(ChannelPublic):
    secret: str | None = Field(description="webhook: the signing secret; shown only now")


class ChannelsPublic(Schema):
    items: list[ChannelPublic]
    disabled_count: int = Field(description="Channels disabled for failing: tell the user")


class SecretRotated(Schema):
    secret: str = Field(description="The new signing secret; shown only now")
    previous_valid_until: datetime = Field(description="The old secret signs until then")


class RuleCreate(Schema, StorableText):
    name: str = Field(min_length=1, max_length=200)
    channel_id: str = Field(max_length=36)
    events: list[str] = Field(min_length=1, max_length=len(EVENTS))
    job_types: list[str] = Field(default_factory=list, max_length=50)
    name_pattern: str | None = Field(
        default=None, max_length=200, description="A glob on the job's name: nightly-*"
    )
    priorities: list[int] = Field(default_factory=list, max_length=5)
    enabled: bool = True

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        return check_events(value)

    @field_validator("priorities")
    @classmethod
    def _priorities(cls, value: list[int]) -> list[int]:
        return check_priorities(value)


def check_events(value: list[str]) -> list[str]:
    unknown = [e for e in value if e not in EVENTS]
    if unknown:
        raise ValueError(f"unknown event {unknown[0]!r}; one of: {', '.join(EVENTS)}")
    return list(dict.fromkeys(value))


def check_priorities(value: list[int]) -> list[int]:
    if any(not 1 <= p <= 5 for p in value):
        raise ValueError("priorities go from 1 (runs first) to 5")
    return sorted(set(value))


class RuleUpdate(Schema, StorableText):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    events: list[str] | None = Field(default=None, min_length=1, max_length=len(EVENTS))
    job_types: list[str] | None = Field(default=None, max_length=50)
    name_pattern: str | None = Field(default=None, max_length=200)
    priorities: list[int] | None = Field(default=None, max_length=5)
    enabled: bool | None = None

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else check_events(value)

    @field_validator("priorities")
    @classmethod
    def _priorities(cls, value: list[int] | None) -> list[int] | None:
        return None if value is None else check_priorities(value)


class RulePublic(Schema):
    id: str
    name: str
    channel_id: str
    events: list[str]
    job_types: list[str]
    name_pattern: str | None
    priorities: list[int]
    enabled: bool
    created_at: datetime
    updated_at: datetime


class RulesPublic(Schema):
    items: list[RulePublic]


class EventsPublic(Schema):
    events: list[str]


class AttemptPublic(Schema):
    number: int
    status_code: int | None
    response: str | None = Field(description="An excerpt of the receiver's answer")
    error: str | None
    duration_ms: int
    created_at: datetime


class DeliveryPublic(Schema):
    id: str = Field(description="Also the webhook-id header: receivers dedupe on it")
    channel_id: str
    event: str
    job_id: str | None
    status: str
    attempts: int
    last_status_code: int | None
    last_response: str | None
    last_error: str | None
    next_retry_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    updated_at: datetime
    attempt_log: list[AttemptPublic] | None = Field(
        default=None, description="Every try (on GET of one delivery)"
    )


class DeliveriesPublic(Schema):
    items: list[DeliveryPublic]


class TestSendResult(Schema):
    delivered: bool
    status_code: int | None
    response: str | None
    error: str | None
