"""Step records held back while an activity step runs (patch `pipeline-deferred-records`,
in a new run one `baseline-2026-12b` marker):
the activity of the next step is scheduled without a database write in front of it, yet
each row keeps the times its changes happened, every change reaches the feed in order,
and a step that runs longer than the progress interval shows as running meanwhile."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import datetime

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.enums.v1 import EventType

from tests.conftest import Stack, new_tenant, open_stack
from tests.fakes.serving import serving
from tests.pipelines.helpers import run_to_end, save, start, step_changes, steps_of, wait_for_step
from tests.workflows.test_replay import record_history

SLOW_S = 0.2


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _chain(url: str, n: int) -> dict[str, object]:
    return {
        "steps": [
            {"id": f"s{i}", "kind": "http", "url": f"{url}/slow"}
            | ({"dependsOn": [f"s{i - 1}"]} if i else {})
            for i in range(n)
        ]
    }


async def _slow(request: Request) -> Response:
    await asyncio.sleep(SLOW_S)
    return JSONResponse({"ok": True})


def _stack_with(stack: Stack, interval_s: float) -> AbstractAsyncContextManager[Stack]:
    """A stack whose http steps may call 127.0.0.1, with its own progress interval."""
    return open_stack(
        stack,
        task_queue=f"tq-{uuid.uuid4().hex[:8]}",
        pipeline_http_allow=["127.0.0.1"],
        progress_interval_s=interval_s,
    )


@pytest.fixture
async def patient(stack: Stack) -> AsyncIterator[Stack]:
    """Records may wait 30 s: longer than any of these runs."""
    async with _stack_with(stack, 30.0) as built:
        yield built


async def test_an_http_chain_schedules_each_step_with_no_record_before_it(
    patient: Stack,
) -> None:
    account = await new_tenant(patient)
    app = Starlette(routes=[Route("/slow", _slow)])
    async with serving(app) as url, patient.client(account.key) as api:
        pipeline = await save(api, "deferred-chain", _chain(url, 3))
        done = await run_to_end(api, (await start(api, pipeline["id"]))["id"])
        assert done["status"] == "completed", done

        # No local activity (a record) between the first step's activity and the last's
        # end: each next step was scheduled in the task that saw the one before end.
        history = await patient.runtime.temporal.get_workflow_handle(done["id"]).fetch_history()
        kinds = [e.event_type for e in history.events]
        scheduled = [
            i
            for i, e in enumerate(history.events)
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and e.activity_task_scheduled_event_attributes.activity_type.name == "pipeline.run_step"
        ]
        assert len(scheduled) == 3
        between = kinds[scheduled[0] : scheduled[-1]]
        assert EventType.EVENT_TYPE_MARKER_RECORDED not in between
        # A new run records one patch marker, the baseline that stands for the pipeline's
        # patches too (each marker also costs a visibility write).
        patches = [
            e
            for e in history.events
            if e.marker_recorded_event_attributes.marker_name == "core_patch"
        ]
        assert len(patches) == 1
        assert b"baseline-2026-12b" in patches[0].SerializeToString()

        # Each row has the times its changes happened, not the time they were written
        # (all three were written together, at the end).
        steps = await steps_of(api, done["id"])
        times = [
            (_at(s["startedAt"]), _at(s["finishedAt"])) for s in (steps[f"s{i}"] for i in range(3))
        ]
        for started, finished in times:
            assert (finished - started).total_seconds() >= SLOW_S
        for (_, finished), (started, _) in zip(times, times[1:], strict=False):
            assert started >= finished
        # Every change reached the feed, in order.
        changes = [c for event in await step_changes(api, done["id"]) for c in event]
        assert changes == [(f"s{i}", s) for i in range(3) for s in ("running", "completed")]
        await record_history(patient, done["id"], "pipeline-deferred-http-chain-completed")


async def test_a_step_longer_than_the_interval_shows_as_running_while_it_runs(
    stack: Stack,
) -> None:
    release = asyncio.Event()

    async def held(request: Request) -> Response:
        await release.wait()
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/held", held)])
    async with _stack_with(stack, 0.05) as quick:
        account = await new_tenant(quick)
        async with serving(app) as url, quick.client(account.key) as api:
            spec = {"steps": [{"id": "held", "kind": "http", "url": f"{url}/held"}]}
            run = await start(api, (await save(api, "held", spec))["id"])
            try:
                # Recorded while its activity still waits for the answer.
                await wait_for_step(api, run["id"], "held", "running", within=30)
                assert not release.is_set()
            finally:
                release.set()
            done = await run_to_end(api, run["id"])
            assert done["status"] == "completed", done
            assert (await steps_of(api, run["id"]))["held"]["status"] == "completed"
