"""`replay_namespace` on the real dev server: a namespace's recent histories replay on the
code that ran them, a changed workflow's failures are reported per execution, and the
saved histories are replay fixtures."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from jobdeck.cli import main
from jobdeck.config import get_settings
from jobdeck.replay import ReplayReport, replay_namespace
from jobdeck.workflows.bulk import BulkOperationWorkflow
from tests.conftest import Stack, Tenant
from tests.helpers import create_job, wait_for_job
from tests.workflows.changed_workflow import ChangedStepsWorkflow


async def _finished_jobs(tenant: Tenant, count: int) -> list[str]:
    jobs = [
        await create_job(tenant.api, name=f"replay {i}", data={"steps": 2, "step_seconds": 0})
        for i in range(count)
    ]
    for job in jobs:
        assert (await wait_for_job(tenant.api, job["id"]))["status"] == "completed"
    return [job["id"] for job in jobs]


async def _until_listed(stack: Stack, tenant: Tenant, count: int) -> ReplayReport:
    """Visibility lags a moment behind the workflows: replay until all are listed."""
    workflows = stack.registry.workflows()
    query = f"JobOrganization = '{tenant.account.organization_id}'"
    deadline = time.monotonic() + 20
    while True:
        report = await replay_namespace(stack.runtime.temporal, workflows, query=query)
        if report.counts["test-steps"].replayed >= count or time.monotonic() > deadline:
            return report
        await asyncio.sleep(0.2)


async def test_a_namespace_replays_on_the_code_that_ran_it(stack: Stack, tenant: Tenant) -> None:
    await _finished_jobs(tenant, 2)
    report = await _until_listed(stack, tenant, 2)
    assert report.ok, report.summary()
    # Every registered type was listed; only this organization's two jobs matched.
    assert set(report.counts) >= {"test-steps", "fine-tuning", "data-conversion"}
    assert report.counts["test-steps"].replayed == 2
    assert report.replayed == 2
    assert "test-steps: 2 replayed, 0 failed" in report.summary()


async def test_a_changed_workflow_fails_each_execution_by_name(
    stack: Stack, tenant: Tenant, tmp_path: Path
) -> None:
    job_ids = await _finished_jobs(tenant, 2)
    await _until_listed(stack, tenant, 2)
    query = f"JobOrganization = '{tenant.account.organization_id}'"
    report = await replay_namespace(
        stack.runtime.temporal,
        [ChangedStepsWorkflow],
        query=query,
        limit_per_type=5,
        save_to=tmp_path,
    )
    assert not report.ok
    counts = report.counts["test-steps"]
    assert (counts.replayed, counts.failed) == (2, 2)
    assert sorted(f.workflow_id for f in report.failures) == sorted(job_ids)
    for failure in report.failures:
        assert failure.workflow_type == "test-steps" and failure.run_id
        assert failure.error.startswith("NondeterminismError: [TMPRL1100]"), failure.error
    assert "2 failed to replay" in report.summary()

    # The saved histories are fixtures: they replay on the code that ran them.
    assert sorted(p.parent for p in report.saved) == [tmp_path, tmp_path]
    replayer = Replayer(workflows=stack.registry.workflows())
    for path in report.saved:
        assert path.name.startswith("test-steps-")
        history = WorkflowHistory.from_json(path.stem, path.read_text())
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None


async def test_a_type_the_code_no_longer_has_is_a_failure(stack: Stack, tenant: Tenant) -> None:
    [job_id] = await _finished_jobs(tenant, 1)
    await _until_listed(stack, tenant, 1)
    report = await replay_namespace(
        stack.runtime.temporal,
        [BulkOperationWorkflow],
        workflow_types=["test-steps"],
        query=f"JobOrganization = '{tenant.account.organization_id}'",
    )
    assert [f.workflow_id for f in report.failures] == [job_id], report.summary()
    assert "test-steps is not registered" in report.failures[0].error


async def test_the_replay_command_reports_and_exits_by_its_result(
    stack: Stack,
    tenant: Tenant,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`jobdeck replay` as an operator runs it before a deploy, against the namespace."""
    await _finished_jobs(tenant, 1)
    await _until_listed(stack, tenant, 1)
    settings = stack.settings
    monkeypatch.setenv("JOBDECK_TEMPORAL_ADDRESS", settings.temporal_address)
    monkeypatch.setenv("JOBDECK_TEMPORAL_NAMESPACE", settings.temporal_namespace)
    monkeypatch.setenv("JOBDECK_JOB_TYPE_MODULES", json.dumps(settings.job_type_modules))
    get_settings.cache_clear()
    query = f"JobOrganization = '{tenant.account.organization_id}'"
    try:
        code = await asyncio.to_thread(
            main, ["replay", "--type", "test-steps", "--query", query, "--limit", "5"]
        )
        out, _ = capsys.readouterr()
        assert code == 0, out
        assert "test-steps: 1 replayed, 0 failed" in out

        code = await asyncio.to_thread(main, ["replay", "--type", "no-such-type"])
        _, err = capsys.readouterr()
        assert code == 2 and "unknown job type(s) no-such-type" in err
    finally:
        get_settings.cache_clear()
