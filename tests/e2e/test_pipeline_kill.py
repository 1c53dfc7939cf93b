"""A pipeline run whose worker process is SIGKILLed while a step runs (its child job,
mid-activity): a second worker finishes the run; the steps that had completed are not run
again, the step that was running finishes once (its child job is the same job, retried
inside itself), every step's output is recorded once, and the run completes."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest

from jobdeck.config import Settings
from tests.e2e.support import Processes, running_api, start_worker, wait_for_output
from tests.helpers import event_kinds, events_of, wait_for_job
from tests.pipelines.helpers import steps_of

pytestmark = pytest.mark.slow

WORK = {"steps": 40, "step_seconds": 0.2}  # still mid-step when its worker dies
SPEC: dict[str, Any] = {
    "inputs": {"rows": {"type": "array"}},
    "steps": [
        {"id": "count", "kind": "transform", "expression": "length(@)", "input": "${inputs.rows}"},
        {
            "id": "work",
            "kind": "job",
            "jobType": "test-steps",
            "data": {**WORK, "note": "rows: ${steps.count.output}"},
        },
        {
            "id": "report",
            "kind": "transform",
            "expression": "{n: n, steps: steps}",
            "input": {"n": "${steps.count.output}", "steps": "${steps.work.output.steps}"},
        },
    ],
    "outputs": {"report": "${steps.report.output}"},
}


@pytest.mark.timeout(300)
async def test_a_pipeline_run_survives_its_worker_being_sigkilled(
    e2e_run: Settings, procs: Processes
) -> None:
    await _kill_mid_run(e2e_run, procs)


async def _kill_mid_run(settings: Any, procs: Processes) -> None:
    first = start_worker(procs, settings, "worker-1")
    await wait_for_output(first, "worker running")
    async with running_api(settings) as api:
        client = api.client
        saved = await client.post("/api/pipelines", json={"name": "killed", "spec": SPEC})
        assert saved.status_code == 201, saved.text
        started = await client.post(
            f"/api/pipelines/{saved.json()['id']}/run", json={"inputs": {"rows": [1, 2, 3]}}
        )
        assert started.status_code == 201, started.text
        run = started.json()

        async def child() -> dict[str, Any]:
            found = (await client.get("/api/jobs", params={"parent": run["id"]})).json()["data"]
            assert len(found) == 1, found
            return dict(found[0])

        # Until the work step's child job is a few steps in.
        await wait_for_job(
            client,
            run["id"],
            until=lambda j: (j["progress"] or {}).get("stage") == "work",
            within=60,
            why=first.tail,
        )
        work = await wait_for_job(
            client,
            (await _wait_child(client, run["id"]))["id"],
            until=lambda j: (j["progress"] or {}).get("current", 0) >= 3,
            within=60,
            why=first.tail,
        )

        assert procs.kill(first, signal.SIGKILL) == -signal.SIGKILL
        stalled = (await client.get(f"/api/jobs/{work['id']}")).json()
        assert stalled["status"] == "active", stalled
        assert stalled["progress"]["current"] < WORK["steps"], stalled
        steps = await steps_of(client, run["id"])
        assert steps["count"]["status"] == "completed" and steps["work"]["status"] == "running"

        second = start_worker(procs, settings, "worker-2")
        done = await wait_for_job(client, run["id"], within=180, why=second.tail)
        assert second.alive(), second.tail()
        assert done["status"] == "completed", done
        assert done["result"] == {"report": {"n": 3, "steps": WORK["steps"]}}

        # The same child job, its killed activity tried again inside it; no second child.
        finished = await child()
        assert finished["id"] == work["id"] and finished["status"] == "completed", finished
        assert finished["result"]["attempt"] >= 2, finished
        steps = await steps_of(client, run["id"])
        assert {k: s["status"] for k, s in steps.items()} == dict.fromkeys(
            ("count", "work", "report"), "completed"
        )
        assert steps["count"]["output"] == 3
        assert steps["work"]["output"]["steps"] == WORK["steps"]
        assert steps["work"]["childJobId"] == work["id"]
        assert steps["report"]["output"] == {"n": 3, "steps": WORK["steps"]}
        assert all(s["attempts"] == 1 for s in steps.values()), steps

        # Each step started once and completed once: its output recorded once.
        changes = [
            (c["stepId"], c["status"])
            for e in await events_of(client, run["id"])
            for c in e["data"].get("steps", [])
            if c.get("status")
        ]
        assert changes == [
            ("count", "running"),
            ("count", "completed"),
            ("work", "running"),
            ("work", "completed"),
            ("report", "running"),
            ("report", "completed"),
        ], changes
        for job_id in (run["id"], work["id"]):
            kinds = await event_kinds(client, job_id)
            for kind in ("created", "started", "completed"):
                assert kinds.count(kind) == 1, (job_id, kinds)


async def _wait_child(client: Any, run_id: str) -> dict[str, Any]:
    """The run's child job once its row is written."""
    for _ in range(600):
        found = (await client.get("/api/jobs", params={"parent": run_id})).json()["data"]
        if found:
            return dict(found[0])
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} never started its child job")
