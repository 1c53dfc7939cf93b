"""The one exception conversion code raises for input it cannot use."""

from __future__ import annotations

from typing import Any


class DataError(Exception):
    """Bad or unsupported input: the message says what is wrong and how to fix it.

    `kind` becomes the job error's type: InvalidData (malformed file), UnsupportedType (a
    column that cannot be converted), MappingError (a column mapping that does not fit the
    file), DatasetNotFound."""

    def __init__(
        self, message: str, *, kind: str = "InvalidData", details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.details = details or {}


class BlocksTooSmall(Exception):
    """A CSV row spans more than the reader's block: read again with larger blocks."""


class Cancelled(Exception):
    """The activity was cancelled; raised inside the conversion thread to stop it."""


NON_RETRYABLE = ["InvalidData", "UnsupportedType", "MappingError", "DatasetNotFound"]
