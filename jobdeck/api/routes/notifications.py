"""Notification channels, rules and the delivery log (issue 15)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
