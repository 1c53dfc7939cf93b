"""`jobdeck schedules` against a real API server (uvicorn on a free port), firing a job or
a saved pipeline's run."""

from __future__ import annotations

import json

import pytest

from tests.api.test_cli import _cli, api_url, cli_env  # noqa: F401 (fixtures)
from tests.conftest import Tenant
from tests.pipelines.helpers import save
from tests.schedules.test_pipeline_schedules import COUNT


async def test_schedules_commands(cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    code, out, err = await _cli(
        capsys,
        "schedules", "create", "nightly", "test-steps",
        "--cron", "30 2 * * *", "--timezone", "Europe/Berlin",
        "--data", '{"steps": 1, "step_seconds": 0}', "--paused", "--note", "set up",
    )  # fmt: skip
    assert code == 0, err
    created = json.loads(out)
    schedule_id = created["id"]
    assert created["state"] == "paused" and created["cronText"] == "At 02:30"

    code, out, _ = await _cli(capsys, "schedules", "list")
    assert code == 0
    assert schedule_id in out and "paused" in out and "nightly" in out

    code, out, _ = await _cli(capsys, "schedules", "resume", schedule_id, "--note", "go")
    assert code == 0 and json.loads(out)["state"] == "active"
    code, out, _ = await _cli(capsys, "schedules", "pause", schedule_id, "--note", "hold")
    assert code == 0 and json.loads(out)["note"] == "hold"
    code, out, _ = await _cli(capsys, "schedules", "trigger", schedule_id)
    assert code == 0 and json.loads(out)["id"] == schedule_id
    code, out, _ = await _cli(capsys, "schedules", "delete", schedule_id)
    assert code == 0 and "deleted" in out
    code, _, err = await _cli(capsys, "schedules", "get", schedule_id)
    assert code == 1 and "error 404" in err

    code, _, err = await _cli(
        capsys, "schedules", "create", "bad", "test-steps", "--cron", "99 * * * *"
    )
    assert code == 1 and "error 422" in err and "cron" in err


async def test_a_schedule_of_a_saved_pipeline(
    cli_env: None,  # noqa: F811
    tenant: Tenant,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pipeline = await save(tenant.api, "counter", COUNT)
    code, out, err = await _cli(
        capsys,
        "schedules", "create", "nightly count", "--pipeline", pipeline["id"],
        "--inputs", '{"rows": [1, 2]}', "--cron", "@daily", "--paused",
    )  # fmt: skip
    assert code == 0, err
    created = json.loads(out)
    assert created["pipeline"]["version"] == 1
    assert created["pipeline"]["inputs"] == {"rows": [1, 2], "label": "rows"}
    code, out, _ = await _cli(capsys, "schedules", "list")
    assert code == 0 and f"[pipeline {pipeline['id']} v1]" in out

    code, _, err = await _cli(
        capsys, "schedules", "create", "bad", "--pipeline", pipeline["id"], "--cron", "@daily"
    )
    assert code == 1 and "error 422" in err and "inputs.rows: required input" in err
    code, _, err = await _cli(
        capsys, "schedules", "create", "both", "test-steps", "--pipeline", "x", "--cron", "@daily"
    )
    assert code == 2 and "a job type or --pipeline ID" in err
    code, _, err = await _cli(
        capsys, "schedules", "create", "bad", "--pipeline", "x", "--inputs", "{", "--cron", "@daily"
    )
    assert code == 2 and "--inputs is not JSON" in err


async def test_a_refused_trigger_is_printed_with_why(
    cli_env: None,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = await _cli(
        capsys,
        "schedules", "create", "slow", "test-steps", "--cron", "@daily",
        "--data", '{"steps": 300, "step_seconds": 0.1}', "--paused",
    )  # fmt: skip
    assert code == 0, err
    schedule_id = json.loads(out)["id"]
    code, _, err = await _cli(capsys, "schedules", "trigger", schedule_id)
    assert code == 0, err
    # Its job still runs and the policy is skip (the default): refused, saying which job.
    code, _, err = await _cli(capsys, "schedules", "trigger", schedule_id)
    assert code == 1 and "error 409" in err, err
    assert "overlap policy 'skip'" in err and "not buffered" in err
    job_id = err.split("its job ")[1].split(" ")[0]
    code, _, err = await _cli(capsys, "jobs", "cancel", job_id)
    assert code == 0, err
    code, _, _ = await _cli(capsys, "schedules", "delete", schedule_id)
    assert code == 0
