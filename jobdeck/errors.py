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
