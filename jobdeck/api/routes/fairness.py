"""An organization's limits, usage and quotas (issue 16)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
