"""JOBDECK_WORKFLOW_MODULES: `fresh` (the tests' mode) catches a job type's forbidden call;
`shared` (the default) imports workflow modules once and does not. The worker's runner
skips the per-payload context lookups only for a converter that ignores the context."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowFailureError
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
)
from temporalio.worker import Worker

from jobdeck.config import Settings
from jobdeck.worker import ContextFreeRunner, is_context_free, workflow_runner
from tests.sandbox_probe import CallsAnActivity, ReadsTheClock, echo


async def _run_probe(client: Client, modules: str) -> str:
    queue = f"sandbox-{uuid.uuid4().hex[:8]}"
    settings = Settings(workflow_modules=modules)  # type: ignore[arg-type]
    runner = workflow_runner(settings, client.data_converter)
    assert isinstance(runner, ContextFreeRunner)  # the sandbox all the same (below)
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


class ContextRecorder(PayloadCodec, WithSerializationContext):
    """A codec that takes the serialization context: it records the context of each
    payload it encodes."""

    def __init__(self, seen: list[SerializationContext | None], context: Any = None) -> None:
        self.seen = seen
        self.context = context

    def with_context(self, context: SerializationContext) -> ContextRecorder:
        return ContextRecorder(self.seen, context)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.seen.append(self.context)
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


def test_only_a_converter_that_ignores_the_context_gets_the_shortcut() -> None:
    settings = Settings(workflow_modules="shared")
    assert is_context_free(DataConverter.default)
    assert isinstance(workflow_runner(settings, DataConverter.default), ContextFreeRunner)
    with_codec = dataclasses.replace(DataConverter.default, payload_codec=ContextRecorder([]))
    assert not is_context_free(with_codec)
    assert not isinstance(workflow_runner(settings, with_codec), ContextFreeRunner)
    assert not isinstance(workflow_runner(settings), ContextFreeRunner)  # converter unknown


@pytest.mark.parametrize("codec", [False, True], ids=["default-converter", "context-codec"])
async def test_activity_payloads_keep_their_context_where_it_matters(
    temporal_client: Client, codec: bool
) -> None:
    seen: list[SerializationContext | None] = []
    client = temporal_client
    if codec:
        converter = dataclasses.replace(DataConverter.default, payload_codec=ContextRecorder(seen))
        config = temporal_client.config()
        config["data_converter"] = converter
        client = Client(**config)
    queue = f"sandbox-{uuid.uuid4().hex[:8]}"
    runner = workflow_runner(Settings(workflow_modules="fresh"), client.data_converter)
    assert isinstance(runner, ContextFreeRunner) is not codec
    async with Worker(
        client,
        task_queue=queue,
        workflows=[CallsAnActivity],
        activities=[echo],
        workflow_runner=runner,
    ):
        result = await client.execute_workflow(
            CallsAnActivity.run,
            "hello",
            id=f"sandbox-activity-{uuid.uuid4()}",
            task_queue=queue,
            execution_timeout=timedelta(seconds=30),
        )
    assert result == "hello"
    if codec:  # the SDK's own path: the activity's input was encoded in its context
        assert any(
            isinstance(c, ActivitySerializationContext) and c.activity_type == "sandbox-echo"
            for c in seen
        )
