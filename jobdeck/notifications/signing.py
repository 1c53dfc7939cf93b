"""Standard Webhooks 1.0 signatures: `webhook-signature: v1,<base64 HMAC-SHA256 of
"<webhook-id>.<webhook-timestamp>.<body>">`, keyed with the base64 part of a `whsec_`
secret. During a rotation both secrets sign (space-separated), so a receiver with either
verifies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from jobdeck.errors import InvalidInput

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(os.urandom(32)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret; InvalidInput for anything else."""
    if not secret.startswith(PREFIX):
        raise InvalidInput("a webhook secret starts with 'whsec_' followed by base64")
    try:
        key = base64.b64decode(secret[len(PREFIX) :], validate=True)
    except ValueError:
        raise InvalidInput("a webhook secret's part after 'whsec_' must be base64") from None
    if not 24 <= len(key) <= 64:
        raise InvalidInput("a webhook secret must hold 24 to 64 bytes (base64 after 'whsec_')")
    return key


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, msg_id, timestamp, body) for s in secrets),
        "content-type": "application/json",
    }
