"""The default 30 s polling loop, on Temporal's time-skipping test server: the workflow
sleeps 30 s between polls and the test does not wait for it."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from tests.conftest import Stack, Tenant, open_stack
from tests.fakes.clock import FakeClock
from tests.fakes.openai_jobs import Timeline
from tests.fakes.openai_server import control_of, create_openai_fake
from tests.fakes.serving import Switchable
from tests.fine_tuning.conftest import SENTINEL_KEY, chat_jsonl, start_fine_tune, upload_dataset
from tests.helpers import wait_for_job

POLL_S = 30.0


def _test_server() -> str:
    beside = Path(sys.executable).parent / "temporal-test-server"
    return str(beside) if beside.exists() else (shutil.which("temporal-test-server") or "")


class ClockFollowsPolls:
    """Each status read moves the fake provider's clock on by one poll interval, as the
    provider's own clock would have moved while the workflow slept."""

    def __init__(self, app: ASGIApp, clock: FakeClock) -> None:
        self.app, self.clock = app, clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and scope["path"].startswith("/v1/fine_tuning/jobs/ftjob-")
            and scope["path"].count("/") == 4
        ):
            self.clock.advance(POLL_S)
        await self.app(scope, receive, send)


@pytest.fixture
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=_test_server())
    try:
        yield env
    finally:
        await env.shutdown()


async def test_the_default_thirty_second_loop_runs_without_waiting(
    stack: Stack,
    tenant: Tenant,
    skipping_env: WorkflowEnvironment,
    fake_servers: tuple[Switchable, str, Switchable, str],
) -> None:
    switch, openai_url = fake_servers[0], fake_servers[1]
    clock = FakeClock(speed=0.0)
    fake = create_openai_fake(
        clock,
        api_key=SENTINEL_KEY,
        timeline=Timeline(validating_s=20, queued_s=40, step_s=10, finalize_s=20, total_steps=20),
    )
    switch.app = ClockFollowsPolls(fake, clock)
    client = skipping_env.client
    started = time.monotonic()
    async with open_stack(
        stack,
        temporal=client,
        task_queue=f"skip-{uuid.uuid4().hex[:8]}",
        openai_api_key=SecretStr(SENTINEL_KEY),
        openai_base_url=f"{openai_url}/v1",
        fine_tuning_poll_interval_s=POLL_S,
        # The time-skipping test server has no custom search attributes.
        temporal_search_attributes=False,
        worker_training="off",  # one worker, on the job's task queue
    ) as skipping:
        async with skipping.client(tenant.account.key) as api:
            record = await start_fine_tune(api, await upload_dataset(api, chat_jsonl()))
            job = (await api.get(f"/api/jobs/{record['jobId']}")).json()
            for _ in range(100):
                if job["status"] in ("completed", "failed", "cancelled"):
                    break
                await skipping_env.sleep(POLL_S)  # jumps the server's clock ahead
                job = await wait_for_job(api, record["jobId"], within=10, until=lambda j: True)
                await asyncio.sleep(0.2)  # let the poll that the timer released run
            history = await client.get_workflow_handle(record["jobId"]).fetch_history()
    assert job["status"] == "completed", job
    timers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
    # About 5 minutes of provider time went by in polls 30 s apart...
    assert len(timers) >= 8
    assert {t.timer_started_event_attributes.start_to_fire_timeout.seconds for t in timers} == {30}
    # ...in a few seconds of real time.
    assert time.monotonic() - started < 30
    assert control_of(fake).calls["jobs.create"] == 1
