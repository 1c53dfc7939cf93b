"""Secrets out of text: the one place that knows which values are secret and how to take
them out of a message, a value or an exception before it leaves an activity (for the job
row, its events, Temporal's history, API responses and logs).

The secrets are found generically: every `SecretStr` (or `SecretBytes`) field of the
settings, nested models, lists and dicts included, so a secret added to `Settings` later
(a webhook signing key, an SMTP password) is redacted without another line here.

Pure: no I/O, safe anywhere (domain layer)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr
from temporalio.exceptions import ApplicationError

MASK = "[redacted]"
# Shorter values are not redacted: replacing every "ab" in a text would leave nothing
# readable, and such a value protects nothing anyway.
MIN_SECRET_CHARS = 4


def _secret_values(value: Any) -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, SecretBytes):
        yield value.get_secret_value().decode(errors="replace")
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secret_values(getattr(value, name, None))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secret_values(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _secret_values(item)


def secrets_of(settings: BaseModel) -> list[str]:
    """Every secret value the settings hold, longest first (so that a secret containing
    another is taken out whole)."""
    found = {s for s in _secret_values(settings) if len(s) >= MIN_SECRET_CHARS}
    return sorted(found, key=lambda s: (-len(s), s))


class Redactor:
    """Replaces each secret with MASK in text, in nested values and in exceptions."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted(
            {s for s in secrets if len(s) >= MIN_SECRET_CHARS}, key=lambda s: (-len(s), s)
        )

    @classmethod
    def of(cls, settings: BaseModel) -> Redactor:
        return cls(secrets_of(settings))

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def found_in(self, text: str) -> bool:
        return any(secret in text for secret in self.secrets)

    def text(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def value(self, value: Any) -> Any:
        """`value` with every string in it redacted: str, bytes, dicts, lists, tuples,
        dataclasses and pydantic models are walked; anything else is kept unless its
        text holds a secret, then it becomes that text, redacted. Returns the same object
        when there was nothing to redact."""
        if not self.secrets or value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes):
            decoded = value.decode(errors="replace")
            return self.text(decoded).encode() if self.found_in(decoded) else value
        if isinstance(value, dict):
            items, changed = {}, False
            for key, item in value.items():
                new_key, new_item = self.value(key), self.value(item)
                changed = changed or new_key is not key or new_item is not item
                items[new_key] = new_item
            return items if changed else value
        if isinstance(value, list | tuple):
            redacted = [self.value(item) for item in value]
            if _same(redacted, value):
                return value
            return redacted if isinstance(value, list) else type(value)(redacted)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes = {}
            for f in dataclasses.fields(value):
                if not f.init:
                    continue
                current = getattr(value, f.name)
                redacted = self.value(current)
                if redacted is not current:
                    changes[f.name] = redacted
            return dataclasses.replace(value, **changes) if changes else value
        if isinstance(value, BaseModel):
            dumped = value.model_dump()
            redacted = self.value(dumped)
            return value if redacted is dumped else type(value).model_validate(redacted)
        if self.found_in(repr(value)) or self.found_in(str(value)):
            return self.text(str(value))
        return value

    def exception_holds_secret(self, err: BaseException) -> bool:
        """Whether the exception or any exception it chains to shows a secret."""
        for link in _chain(err):
            if self.found_in(str(link)) or self.found_in(repr(link)):
                return True
            details = getattr(link, "details", None)
            if details is not None and self.value(details) is not details:
                return True
        return False

    def exception(self, err: BaseException) -> BaseException:
        """`err` itself when no secret shows in it or its chain; else an equivalent
        ApplicationError (same type name, retry behaviour, details and traceback; its
        causes redacted the same way) that shows none."""
        if not self.secrets or not self.exception_holds_secret(err):
            return err
        return self._rebuilt(err, depth=0)

    def _rebuilt(self, err: BaseException, *, depth: int) -> BaseException:
        if isinstance(err, ApplicationError):
            details = [self.value(d) for d in err.details]
            new = ApplicationError(
                self.text(err.message),
                *details,
                type=err.type,
                non_retryable=err.non_retryable,
                next_retry_delay=err.next_retry_delay,
                category=err.category,
            )
        else:
            # Temporal names a plain exception by its class; the same name keeps the
            # retry policy's non-retryable types working.
            new = ApplicationError(self.text(str(err)), type=type(err).__name__)
        new.__traceback__ = err.__traceback__
        cause = err.__cause__ or (None if err.__suppress_context__ else err.__context__)
        if cause is not None and depth < 20:
            new.__cause__ = self._rebuilt(cause, depth=depth + 1)
        new.__suppress_context__ = True
        return new


def _same(new: Iterable[Any], old: Iterable[Any]) -> bool:
    return all(a is b for a, b in zip(new, old, strict=True))


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = err
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or (None if link.__suppress_context__ else link.__context__)
