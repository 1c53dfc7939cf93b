"""Collection ids name files (sqlite) and tables (pgvector): checked once, here."""

from __future__ import annotations

import re

from jobdeck.documents.errors import VectorStoreError

_COLLECTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def check_collection_id(collection_id: str) -> str:
    """Letters, digits, `_` and `-` only, 64 at most; else VectorStoreError."""
    if not _COLLECTION_ID.match(collection_id):
        raise VectorStoreError(f"{collection_id!r} is not a valid collection id")
    return collection_id
