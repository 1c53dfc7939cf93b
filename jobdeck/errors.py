"""The exceptions jobdeck raises on purpose; each has a message a person can act on."""

from __future__ import annotations


class JobdeckError(Exception):
    """Base of every expected jobdeck error."""

    message = "jobdeck error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)

    @property
    def detail(self) -> str:
        return str(self)


class NotFound(JobdeckError):
    message = "not found"


class Conflict(JobdeckError):
    """The request is valid but the resource is in a state that forbids it."""

    message = "conflict"


class InvalidInput(JobdeckError):
    message = "invalid input"


class Unavailable(JobdeckError):
    """A dependency (Temporal, the database) cannot be reached right now."""

    message = "service unavailable, try again"


class QuotaExceeded(JobdeckError):
    """An organization's quota would be exceeded (413): `body` says which, its size and
    what is used of it, beside the message."""

    message = "quota exceeded"

    def __init__(self, message: str, *, quota: str, limit: int, usage: int, adding: int) -> None:
        super().__init__(message)
        self.body = {"quota": quota, "limit": limit, "usage": usage, "adding": adding}
