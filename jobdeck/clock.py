"""The one clock of activities, the API and the store: timezone-aware UTC.

Workflow code never calls it (it reads `workflow.now()`); tests may patch it here."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
