"""Bad input is the job's failure, told in its error and events, not a worker fault: the
worker logs one line for it, never a traceback."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import Tenant
from tests.helpers import create_job, wait_for_job


async def test_a_job_that_fails_on_its_input_logs_no_traceback(
    tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    job = await create_job(tenant.api, name="bad input", data={"fail_permanently": True})
    done = await wait_for_job(tenant.api, job["id"])
    assert done["status"] == "failed"
    assert done["error"]["type"] == "BadInput"
    assert done["error"]["message"] == "the input cannot work"
    loud = [
        f"{r.name} {r.levelname}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.exc_info and job["id"] in _text(r)
    ]
    assert loud == []
    assert any(
        r.getMessage() == "step failed for good" and getattr(r, "job_id", None) == job["id"]
        for r in caplog.records
    )


def _text(record: logging.LogRecord) -> str:
    return f"{record.getMessage()} {vars(record)}"
