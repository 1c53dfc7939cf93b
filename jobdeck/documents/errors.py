"""The documents library's errors besides DocumentError (in types)."""

from __future__ import annotations


class EmbeddingError(Exception):
    """An embedding call that failed; `retryable` says whether trying again may help, and
    `retry_after` how long the provider asked to wait (seconds), where it said."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (str(self), self.retryable, self.retry_after))


def _rebuild(message: str, retryable: bool, retry_after: float | None) -> EmbeddingError:
    return EmbeddingError(message, retryable=retryable, retry_after=retry_after)


class VectorStoreError(Exception):
    """A vector store that cannot do what was asked (no such collection, a vector of the
    wrong length, the pgvector extension missing)."""
