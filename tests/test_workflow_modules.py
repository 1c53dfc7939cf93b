"""JOBDECK_WORKFLOW_MODULES: `fresh` (the tests' mode) catches a job type's forbidden call;
`shared` (the default) imports workflow modules once and does not."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from jobdeck.config import Settings
from jobdeck.worker import workflow_runner
from tests.sandbox_probe import ReadsTheClock


async def _run_probe(client: Client, modules: str) -> str:
    queue = f"sandbox-{uuid.uuid4().hex[:8]}"
    runner = workflow_runner(Settings(workflow_modules=modules))  # type: ignore[arg-type]
    async with Worker(client, task_queue=queue, workflows=[ReadsTheClock], workflow_runner=runner):
        result: str = await client.execute_workflow(
            ReadsTheClock.run,
            id=f"sandbox-probe-{uuid.uuid4()}",
            task_queue=queue,
            execution_timeout=timedelta(seconds=30),
        )
        return result


async def test_fresh_modules_catch_a_forbidden_call(temporal_client: Client) -> None:
    with pytest.raises(WorkflowFailureError) as failed:
        await _run_probe(temporal_client, "fresh")
    assert "datetime.datetime.now" in str(failed.value.cause)


async def test_shared_modules_run_without_the_restrictions(temporal_client: Client) -> None:
    assert await _run_probe(temporal_client, "shared")


def test_the_tests_run_with_fresh_modules() -> None:
    assert Settings().workflow_modules == "fresh"


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="shared"):
        Settings(workflow_modules="loose")  # type: ignore[arg-type]
