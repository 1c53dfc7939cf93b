"""A long provider job continues-as-new: on a dev server of its own whose history limit
suggests continue-as-new after a few dozen events, the polling loop starts a new run
that resumes the same provider job (no second upload or create) and completes the job.
Both runs' histories are kept as replay fixtures."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from jobdeck.devserver import SINGLE_NODE_ARGS, temporal_binary
from jobdeck.temporal import SEARCH_ATTRIBUTES
from tests.conftest import Stack, Tenant, open_stack
from tests.fakes.clock import FakeClock
from tests.fakes.openai_control import FakeControl
from tests.fakes.openai_jobs import Timeline
from tests.fakes.openai_server import control_of, create_openai_fake
from tests.fakes.serving import Switchable
from tests.fine_tuning.conftest import SENTINEL_KEY, chat_jsonl, start_fine_tune, upload_dataset
from tests.helpers import wait_for_job
from tests.workflows.test_replay import record_history

# The server suggests continue-as-new once a run's history has this many events (the
# default is 4096): the first run gets there after its first poll, a resumed one after a few.
SUGGEST_AFTER_EVENTS = 40


@pytest.fixture(scope="module")
async def small_history_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=[
            *SINGLE_NODE_ARGS,
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={SUGGEST_AFTER_EVENTS}",
        ],
    )
    try:
        yield env
    finally:
        await env.shutdown()


async def _run_ids(client: Client, job_id: str) -> list[str]:
    """The job's runs, oldest first."""
    runs = [
        (execution.start_time, execution.run_id)
        async for execution in client.list_workflows(f"WorkflowId = '{job_id}'")
    ]
    return [run_id for _, run_id in sorted(runs)]


async def test_a_long_poll_continues_as_new_and_resumes_the_provider_job(
    stack: Stack,
    tenant: Tenant,
    small_history_env: WorkflowEnvironment,
    fake_servers: tuple[Switchable, str, Switchable, str],
) -> None:
    switch, openai_url = fake_servers[0], fake_servers[1]
    clock = FakeClock(speed=0.0)  # the provider job stays where it is until the test says
    fake = create_openai_fake(
        clock,
        api_key=SENTINEL_KEY,
        timeline=Timeline(validating_s=2, queued_s=2, step_s=1, finalize_s=2, total_steps=4),
    )
    switch.app = fake
    openai: FakeControl = control_of(fake)
    client = small_history_env.client
    async with open_stack(
        stack,
        temporal=client,
        task_queue=f"can-{uuid.uuid4().hex[:8]}",
        temporal_address=client.service_client.config.target_host,
        openai_api_key=SecretStr(SENTINEL_KEY),
        openai_base_url=f"{openai_url}/v1",
        fine_tuning_poll_interval_s=0.1,
        provider_timeout_s=2.0,
        worker_training="off",  # one worker, on the job's task queue
    ) as ended:
        async with ended.client(tenant.account.key) as api:
            record = await start_fine_tune(api, await upload_dataset(api, chat_jsonl()))
            job_id = record["jobId"]
            # Wait for the first continue-as-new, then let the provider job end.
            deadline = time.monotonic() + 60
            while len(runs := await _run_ids(client, job_id)) < 2:
                assert time.monotonic() < deadline, "the workflow never continued-as-new"
                await asyncio.sleep(0.05)
            [provider_job] = openai.jobs
            openai.finish(provider_job.id)
            job: dict[str, Any] = await wait_for_job(api, job_id, within=60)
            assert job["status"] == "completed", job
            # The row is written in the workflow's last task, just before the run completes:
            # wait for the run itself before reading its history.
            await client.get_workflow_handle(job_id).result()
            runs = await _run_ids(client, job_id)
            first = await client.get_workflow_handle(job_id, run_id=runs[0]).fetch_history()
            last = await client.get_workflow_handle(job_id, run_id=runs[-1]).fetch_history()
            await record_history(
                ended, job_id, "fine-tuning-openai-continued-as-new", run_id=runs[0]
            )
            await record_history(ended, job_id, "fine-tuning-openai-resumed-completed")

    assert first.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    assert last.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    # The new run resumed the provider job: one upload and one create in all.
    assert openai.calls["files.create"] == 1 and openai.calls["jobs.create"] == 1
    assert job["result"]["providerJobId"] == provider_job.id
    done = (await tenant.api.get(f"/api/fine-tuning/jobs/{record['id']}")).json()
    assert done["status"] == "succeeded"
