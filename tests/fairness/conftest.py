"""Fixtures for fair sharing: a stack on its own task queue with a small worker, so that
a backlog forms, and helpers to flood it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import Stack, open_stack
from tests.helpers import create_job


@pytest.fixture
async def small_stack(stack: Stack) -> AsyncIterator[Stack]:
    """Two activity slots on a fresh task queue; concurrency limits out of the way."""
    async with open_stack(
        stack,
        task_queue=f"tq-{uuid.uuid4().hex[:8]}",
        worker_max_concurrent_activities=2,
        worker_training="off",
        limit_active_jobs=100_000,
        rate_creates_per_minute_key=0,  # the flood itself is not under test here
        rate_creates_per_minute_org=0,
    ) as small:
        yield small


async def flood(
    api: httpx.AsyncClient, count: int, *, at_once: int = 16, **job: Any
) -> list[dict[str, Any]]:
    """Create `count` jobs, `at_once` requests in flight."""
    gate = asyncio.Semaphore(at_once)

    async def one(i: int) -> dict[str, Any]:
        async with gate:
            return await create_job(api, name=f"flood {i}", **job)

    return list(await asyncio.gather(*(one(i) for i in range(count))))
