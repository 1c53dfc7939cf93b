"""For operators: charts over time, workers and task queues (issue 18)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
