"""Fixtures of the notification tests: a stack whose deliveries may reach 127.0.0.1 and
retry within seconds, a webhook receiver served on a local port, an SMTP server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import Stack, new_tenant, open_stack
from tests.fakes.serving import serving
from tests.notifications.receiver import Receiver

# Seconds, not Svix's hours: the same code, a schedule a test can wait out.
FAST_RETRIES = [0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0, 1.0]


@dataclass
class Org:
    stack: Stack
    api: httpx.AsyncClient
    organization_id: str


@pytest.fixture
async def notify_stack(stack: Stack) -> AsyncIterator[Stack]:
    async with open_stack(
        stack,
        task_queue=f"tq-notify-{uuid.uuid4().hex[:8]}",
        notification_allowed_hosts=["127.0.0.1"],
        notification_retry_schedule_s=FAST_RETRIES,
        notification_retry_jitter=0.1,
        notification_timeout_s=5.0,
    ) as built:
        yield built


@pytest.fixture
async def org(notify_stack: Stack) -> AsyncIterator[Org]:
    account = await new_tenant(notify_stack)
    async with notify_stack.client(account.key) as api:
        yield Org(notify_stack, api, account.organization_id)


@dataclass
class Served:
    receiver: Receiver
    url: str


@pytest.fixture
async def receiver() -> AsyncIterator[Served]:
    hooks = Receiver()
    async with serving(hooks) as base:
        yield Served(hooks, f"{base}/hooks")
