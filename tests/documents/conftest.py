"""A stack that also runs the item runner's test job type (tests/documents/itemjobs.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from tests.conftest import TEST_JOB_TYPES, Stack, Tenant, new_tenant, open_stack

ITEM_TYPES = [*TEST_JOB_TYPES, "tests.documents.itemjobs"]


@pytest.fixture(scope="module")
async def items_stack(stack: Stack) -> AsyncIterator[Stack]:
    settings = stack.settings.model_copy(
        update={"job_type_modules": ITEM_TYPES, "task_queue": f"tq-{uuid.uuid4().hex[:8]}"}
    )
    async with open_stack(settings=settings, temporal=stack.runtime.temporal, db=stack.db) as s:
        yield s


@pytest.fixture
async def items_tenant(items_stack: Stack) -> AsyncIterator[Tenant]:
    account = await new_tenant(items_stack)
    async with items_stack.client(account.key) as api:
        yield Tenant(account, api)
