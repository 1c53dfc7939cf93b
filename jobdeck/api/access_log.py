"""uvicorn's access log without query strings: they carry `after=` event ids today and
may carry keys tomorrow. The method, path, status and client stay.

`log_config()` is uvicorn's own logging configuration with `DropQueryString` on the
access logger and on uvicorn.error, which logs WebSocket handshakes (`"WebSocket
/ws/jobs?after=41" [accepted]`)."""

from __future__ import annotations

import copy
import logging
from typing import Any

from uvicorn.config import LOGGING_CONFIG

LOGGERS = ("uvicorn.access", "uvicorn.error")


def _without_query(value: object) -> object:
    if isinstance(value, str) and value.startswith("/") and "?" in value:
        return value.split("?", 1)[0]
    return value


class DropQueryString(logging.Filter):
    """Rewrites the path argument of a request line (`/api/jobs?q=x` → `/api/jobs`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_without_query(arg) for arg in record.args)
        return True


def log_config() -> dict[str, Any]:
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["drop_query_string"] = {"()": DropQueryString}
    for name in LOGGERS:
        config["loggers"].setdefault(name, {})["filters"] = ["drop_query_string"]
    return config
