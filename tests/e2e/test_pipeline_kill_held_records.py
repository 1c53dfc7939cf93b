"""A pipeline run of http steps whose worker process is SIGKILLed while its step records
are held back (patch `pipeline-deferred-records`, a progress interval longer than the
run): the changes that lived only in the dead worker's workflow state are rebuilt by the
second worker's replay and recorded, with the times they happened, each once and in
order; the completed step is not called again."""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from jobdeck.config import Settings
from tests.e2e.support import Processes, running_api, start_worker, wait_for_output
from tests.fakes.serving import serving
from tests.helpers import events_of, wait_for_job
from tests.pipelines.helpers import steps_of

pytestmark = pytest.mark.slow


def _spec(url: str) -> dict[str, Any]:
    return {
        "steps": [
            {"id": "a", "kind": "http", "url": f"{url}/a"},
            # A try the dead worker never finishes ends by its timeout, then runs again.
            {"id": "b", "kind": "http", "url": f"{url}/b", "dependsOn": ["a"], "timeout": "3s"},
            {"id": "c", "kind": "http", "url": f"{url}/c", "dependsOn": ["b"]},
        ]
    }


# The worker's http steps may call the test's server on 127.0.0.1.
ALLOW_LOOPBACK = {"JOBDECK_PIPELINE_HTTP_ALLOW": '["127.0.0.1"]'}


@pytest.mark.timeout(300)
async def test_held_back_step_records_survive_a_sigkilled_worker(
    e2e_run: Settings, procs: Processes
) -> None:
    # The API stamps each run with this interval: the records wait the whole run.
    settings = e2e_run.model_copy(update={"progress_interval_s": 120.0})
    await _kill_while_held(settings, procs)


async def _kill_while_held(settings: Any, procs: Processes) -> None:
    calls: dict[str, int] = {}
    b_called = asyncio.Event()
    never = asyncio.Event()

    async def answer(request: Request) -> Response:
        step = request.path_params["step"]
        calls[step] = calls.get(step, 0) + 1
        if step == "b" and calls[step] == 1:
            b_called.set()
            await never.wait()  # the first try of b hangs until its worker is gone
        return JSONResponse({"step": step})

    app = Starlette(routes=[Route("/{step}", answer)])
    first = start_worker(procs, settings, "worker-1", **ALLOW_LOOPBACK)
    await wait_for_output(first, "worker running")
    async with serving(app) as url, running_api(settings) as api:
        client = api.client
        saved = await client.post("/api/pipelines", json={"name": "held", "spec": _spec(url)})
        assert saved.status_code == 201, saved.text
        started = await client.post(f"/api/pipelines/{saved.json()['id']}/run", json={})
        assert started.status_code == 201, started.text
        run = started.json()

        await asyncio.wait_for(b_called.wait(), timeout=60)
        # a ran and b is running, but only the workflow knows: nothing is recorded yet.
        held = await steps_of(client, run["id"])
        assert {k: s["status"] for k, s in held.items()} == dict.fromkeys("abc", "pending")
        killed_at = datetime.now().astimezone()
        assert procs.kill(first, signal.SIGKILL) == -signal.SIGKILL

        second = start_worker(procs, settings, "worker-2", **ALLOW_LOOPBACK)
        done = await wait_for_job(client, run["id"], within=180, why=second.tail)
        assert second.alive(), second.tail()
        assert done["status"] == "completed", done
        never.set()

        assert calls == {"a": 1, "b": 2, "c": 1}  # a is not called again
        steps = await steps_of(client, run["id"])
        assert {k: s["status"] for k, s in steps.items()} == dict.fromkeys("abc", "completed")
        assert [steps[k]["output"]["body"] for k in "abc"] == [{"step": k} for k in "abc"]
        # Times as they happened on the dead worker, not when the second wrote them.
        a_done = datetime.fromisoformat(steps["a"]["finishedAt"].replace("Z", "+00:00"))
        b_began = datetime.fromisoformat(steps["b"]["startedAt"].replace("Z", "+00:00"))
        assert a_done <= b_began < killed_at
        # Each change recorded once, in order.
        changes = [
            (c["stepId"], c["status"])
            for e in await events_of(client, run["id"])
            for c in e["data"].get("steps", [])
            if c.get("status")
        ]
        assert changes == [(k, s) for k in "abc" for s in ("running", "completed")], changes
