"""Text the databases cannot store, refused at the edge.

PostgreSQL cannot store NUL (U+0000) in text or JSON, and no UTF-8 database can store an
unpaired surrogate (U+D800..U+DFFF, which a JSON `\\ud800` escape carries into a Python
str). Such text used to fail deep inside: a 500 after the workflow had started, or a job
whose activities could never write its row. One rule, `find_unstorable`, checks every
string the API takes before anything is stored or started:

- request bodies: each body model derives from `StorableText`, whose validator walks every
  field (nested dicts, lists and their keys, e.g. a job's free-form `data`);
- upload form fields and the file's name (jobdeck/api/uploads.py);
- query parameters and the path, for every route (`UnstorableTextGuard`), and the
  WebSocket feeds' (jobdeck/api/ws.py).

The 422 names the field, down to the nested key: `data.items[2].text`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from starlette.types import ASGIApp, Receive, Scope, Send

ERROR_TYPE = "unstorable_text"
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Unstorable:
    path: str  # where, from the value checked: "", ".a.b", "[2]"
    what: str  # "a NUL character (U+0000)", "an unpaired surrogate (U+D800)"
    in_key: bool = False

    @property
    def message(self) -> str:
        return f"contains {self.what}{' in a key' if self.in_key else ''}, which cannot be stored"


def _problem(text: str) -> str | None:
    if "\x00" in text:
        return "a NUL character (U+0000)"
    if not text.isascii():
        found = _SURROGATE.search(text)
        if found:
            return f"an unpaired surrogate (U+{ord(found.group()):04X})"
    return None


def find_unstorable(value: object) -> Unstorable | None:
    """The first string in `value` (a str, or JSON-like dicts and lists of them) that a
    database cannot store, with where it is; None when all can be stored."""
    stack: list[tuple[object, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            what = _problem(item)
            if what:
                return Unstorable(path, what)
        elif isinstance(item, dict):
            entries: list[tuple[object, str]] = []
            for key, child in item.items():
                if isinstance(key, str):
                    what = _problem(key)
                    if what:
                        return Unstorable(path, what, in_key=True)
                entries.append((child, f"{path}.{key}"))
            stack.extend(reversed(entries))  # report the first in document order
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{path}[{i}]") for i, child in reversed(list(enumerate(item))))
    return None


def unstorable_error(field: str, problem: Unstorable) -> PydanticCustomError:
    """The validation error for `field`; `path` in its context is the full location, which
    the app's 422 handler reports as the field."""
    return PydanticCustomError(ERROR_TYPE, problem.message, {"path": f"{field}{problem.path}"})


class StorableText(BaseModel):
    """Base of every request body: no field, however deeply nested, may hold text that the
    databases cannot store. (A test checks that each route's body derives from it.)"""

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        problem = find_unstorable(value)
        if problem is not None:
            name = info.field_name or ""
            field = cls.model_fields[name].alias if name in cls.model_fields else None
            raise unstorable_error(field or name, problem)
        return value


def validation_error(field: str, problem: Unstorable) -> dict[str, Any]:
    """One entry of a RequestValidationError for a form field, as FastAPI makes them."""
    return {
        "type": ERROR_TYPE,
        "loc": ("body", field),
        "msg": problem.message,
        "input": None,
        "ctx": {"path": f"{field}{problem.path}"},
    }


def check_query_and_path(path: str, query: bytes) -> tuple[str, Unstorable] | None:
    """The first unstorable path or query parameter as (field, problem). Cheap when there
    is none: a NUL only comes as %00 (an unpaired surrogate cannot be percent-encoded in
    UTF-8, and decoding replaces it)."""
    found = find_unstorable(path)
    if found is not None:
        return "path", found
    if b"%00" not in query.lower():
        return None
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        found = find_unstorable(name) or find_unstorable(value)
        if found is not None:
            return f"query.{name.replace(chr(0), '')}", found
    return None


class UnstorableTextGuard:
    """Refuse an HTTP request whose path or query holds unstorable text with the same 422
    as a body field gets: `{"detail", "errors": [{field, message}]}`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found = check_query_and_path(scope["path"], scope.get("query_string", b""))
            if found is not None:
                await _refuse(send, *found)
                return
        await self.app(scope, receive, send)


async def _refuse(send: Send, field: str, problem: Unstorable) -> None:
    error = {"field": field, "message": problem.message}
    body = json.dumps({"detail": f"{field}: {problem.message}", "errors": [error]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
