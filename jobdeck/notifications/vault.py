"""Channel secrets at rest: a Fernet token of a small JSON object (a webhook's signing
secrets, a Slack or Discord webhook URL, an SMTP password). The key is the
`notification_secret_key` setting, else one made once into the data directory (0600)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from jobdeck.config import Settings

_keys: dict[Path, bytes] = {}


class SecretUnreadable(Exception):
    """A stored secret that this key cannot decrypt (the key changed or was lost)."""


def _key(settings: Settings) -> bytes:
    if settings.notification_secret_key is not None:
        return settings.notification_secret_key.get_secret_value().encode()
    path = (settings.data_dir / "notification-key").resolve()
    if path not in _keys:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as file:
                file.write(Fernet.generate_key().decode())
        key = path.read_text().strip()
        if not key:  # a writer beside us has not written yet, or an empty file
            raise RuntimeError(
                f"{path} is empty: restore it, or set JOBDECK_NOTIFICATION_SECRET_KEY"
            )
        _keys[path] = key.encode()
    return _keys[path]


class Vault:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def of(cls, settings: Settings) -> Vault:
        return cls(_key(settings))

    def seal(self, secrets: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(secrets).encode()).decode()

    def open(self, token: str) -> dict[str, Any]:
        try:
            opened: dict[str, Any] = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise SecretUnreadable(
                "the channel's secret cannot be decrypted with this notification key "
                "(was JOBDECK_NOTIFICATION_SECRET_KEY changed?); set the secret again"
            ) from None
        return opened
