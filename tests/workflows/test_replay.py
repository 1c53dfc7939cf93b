"""Replay safety: histories recorded from earlier code must replay on today's workflows, so
a change that breaks determinism fails CI instead of stranding running jobs.

Every built-in job type has at least one fixture in tests/histories (a new type without
one fails here). The test-steps and bulk scenarios are recorded below; the other types'
by the tests that run them, through `record_history` (tests/fine_tuning/test_openai.py,
test_ollama.py, test_continue_as_new.py, test_local_training.py; tests/datasets/).
Record new fixtures (after a deliberate, `workflow.patched` change) by running those tests
with `JOBDECK_RECORD_HISTORIES=1` on SQLite, e.g.
`JOBDECK_RECORD_HISTORIES=1 pytest tests/workflows/test_replay.py tests/fine_tuning/test_openai.py`.
Keep the old files: they are the proof that earlier histories still replay (v1-, v2-, v3-:
the fixtures of earlier code, kept under a prefix when their scenario was recorded again)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from jobdeck.registry import BUILTIN_TYPES
from jobdeck.workflows.bulk import BulkOperationWorkflow
from jobdeck.workflows.datasets import DataConversionWorkflow, DatasetValidationWorkflow
from jobdeck.workflows.documents import DocumentProcessingWorkflow
from jobdeck.workflows.fine_tuning import FineTuningWorkflow
from jobdeck.workflows.pipeline import PipelineWorkflow
from jobdeck.workflows.pipeline_map import PipelineMapWorkflow
from jobdeck.workflows.publish import ModelPublishWorkflow
from jobdeck.workflows.scheduled import ScheduledRunWorkflow
from jobdeck.workflows.training import ModelTrainingWorkflow
from tests.conftest import Stack, Tenant
from tests.helpers import create_job, wait_for_job
from tests.jobtypes import StepsWorkflow
from tests.workflows.changed_workflow import ChangedStepsWorkflow

HISTORIES = Path(__file__).parent.parent / "histories"
# Histories of other job types are recorded by their own tests (record_history below).
WORKFLOWS = [
    BulkOperationWorkflow,
    DataConversionWorkflow,
    DatasetValidationWorkflow,
    DocumentProcessingWorkflow,
    FineTuningWorkflow,
    ModelTrainingWorkflow,
    ModelPublishWorkflow,
    PipelineWorkflow,
    PipelineMapWorkflow,
    ScheduledRunWorkflow,  # a schedule's run, before its job (issue 15)
    StepsWorkflow,
]


async def record_history(
    stack: Stack, job_id: str, name: str, *, run_id: str | None = None
) -> None:
    """Replay a finished job's history (its latest run, or `run_id`) on today's code; keep it
    as a fixture on request."""
    handle = stack.runtime.temporal.get_workflow_handle(job_id, run_id=run_id)
    history = await handle.fetch_history()
    await Replayer(workflows=WORKFLOWS).replay_workflow(history)
    if os.environ.get("JOBDECK_RECORD_HISTORIES") == "1" and stack.db.is_sqlite:
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / f"{name}.json").write_text(json.dumps(history.to_json_dict(), indent=1))


SCENARIOS = {
    "steps-completed": ("test-steps", {"steps": 3, "step_seconds": 0.01}),
    "steps-retried-then-completed": ("test-steps", {"steps": 1, "fail_times": 1}),
    "steps-failed": ("test-steps", {"fail_permanently": True}),
    "steps-cancelled": ("test-steps", {"steps": 500, "step_seconds": 0.05}),
    "bulk-cancel": ("bulk-operation", {"action": "cancel", "filter": {"statuses": ["active"]}}),
}


def _workflow_type(history: WorkflowHistory) -> str:
    started = history.events[0].workflow_execution_started_event_attributes
    return started.workflow_type.name


async def test_recorded_histories_replay_on_current_code() -> None:
    files = sorted(HISTORIES.glob("*.json"))
    assert len(files) >= len(SCENARIOS), "recorded histories are missing"
    histories = [WorkflowHistory.from_json(path.stem, path.read_text()) for path in files]
    recorded = {_workflow_type(history) for history in histories}
    unrecorded = {t.name for t in BUILTIN_TYPES} - recorded
    assert not unrecorded, (
        f"job types without a recorded history in {HISTORIES}: {sorted(unrecorded)}; "
        "record one with record_history (see its callers)"
    )
    replayer = Replayer(workflows=WORKFLOWS)
    for path, history in zip(files, histories, strict=True):
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


async def test_fresh_histories_replay_and_can_be_recorded(stack: Stack, tenant: Tenant) -> None:
    for name, (job_type, data) in SCENARIOS.items():
        job = await create_job(tenant.api, type=job_type, name=name, data=data)
        if name == "steps-cancelled":
            await wait_for_job(tenant.api, job["id"], lambda j: j["status"] == "active")
            await tenant.api.patch(f"/api/jobs/{job['id']}/cancel")
        await wait_for_job(tenant.api, job["id"])
        await record_history(stack, job["id"], name)


@pytest.mark.parametrize("broken", ["steps-completed"])
async def test_a_nondeterministic_change_is_caught(broken: str) -> None:
    """The replay check can fail: a workflow whose first command changed does."""
    path = HISTORIES / f"{broken}.json"
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    result = await Replayer(workflows=[ChangedStepsWorkflow]).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is not None
