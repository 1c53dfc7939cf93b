"""Job logs: what a job's own code logs through activity.logger, kept per job, read
through the API (filtered, scoped to the organization, redacted, capped) and followed by
`jobdeck jobs logs -f`."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from jobdeck.store import logs as log_store
from tests.api.test_cli import _cli, api_url, cli_env  # noqa: F401 (fixtures)
from tests.conftest import Stack, Tenant, new_tenant, open_stack
from tests.helpers import create_job, wait_for_job


async def _lines(tenant: Tenant, job_id: str, **params: Any) -> list[dict[str, Any]]:
    response = await tenant.api.get(f"/api/jobs/{job_id}/logs", params=params)
    assert response.status_code == 200, response.text
    lines: list[dict[str, Any]] = response.json()["data"]
    return lines


async def _wait_lines(tenant: Tenant, job_id: str, count: int) -> list[dict[str, Any]]:
    for _ in range(100):
        lines = await _lines(tenant, job_id)
        if len(lines) >= count:
            return lines
        await asyncio.sleep(0.1)
    raise AssertionError(f"only {len(lines)} lines: {lines}")


async def test_lines_arrive_in_order_with_step_and_attempt(tenant: Tenant) -> None:
    job = await create_job(
        tenant.api, data={"steps": 3, "step_seconds": 0.01, "fail_times": 1, "note": "hello"}
    )
    assert (await wait_for_job(tenant.api, job["id"]))["status"] == "completed"
    lines = await _wait_lines(tenant, job["id"], 5)
    assert [(line["message"], line["attempt"]) for line in lines] == [
        ("note: hello", 1),
        ("note: hello", 2),
        ("step 1", 2),
        ("step 2", 2),
        ("step 3", 2),
    ]
    assert {line["step"] for line in lines} == {"test-steps.run"}
    assert [line["level"] for line in lines[:2]] == ["warning", "warning"]
    ids = [line["id"] for line in lines]
    assert ids == sorted(ids)
    # Temporal's own "Completing activity as failed" is no line of the job's.
    assert not any("Completing" in line["message"] for line in lines)

    assert [line["message"] for line in await _lines(tenant, job["id"], q="STEP 2")] == ["step 2"]
    warnings = await _lines(tenant, job["id"], level="warning")
    assert [line["message"] for line in warnings] == ["note: hello", "note: hello"]
    after = await tenant.api.get(f"/api/jobs/{job['id']}/logs", params={"after": ids[2]})
    assert [line["id"] for line in after.json()["data"]] == ids[3:]
    assert after.json()["nextAfter"] == ids[-1]
    bad = await tenant.api.get(f"/api/jobs/{job['id']}/logs", params={"level": "loud"})
    assert bad.status_code == 422


async def test_another_organizations_job_is_not_found(stack: Stack, tenant: Tenant) -> None:
    job = await create_job(tenant.api, data={"steps": 1, "step_seconds": 0})
    other = await new_tenant(stack)
    async with stack.client(other.key) as api:
        response = await api.get(f"/api/jobs/{job['id']}/logs")
    assert response.status_code == 404
    missing = await tenant.api.get(f"/api/jobs/{uuid.uuid4()}/logs")
    assert missing.status_code == 404


async def test_secrets_in_logged_lines_are_redacted(stack: Stack, tenant: Tenant) -> None:
    secret = f"sk-test-{uuid.uuid4().hex}"
    async with open_stack(
        stack, openai_api_key=SecretStr(secret), task_queue=f"logs-{uuid.uuid4().hex[:8]}"
    ) as secretive:
        async with secretive.client(tenant.account.key) as api:
            job = await create_job(
                api, data={"steps": 0, "step_seconds": 0, "note": f"key={secret}!"}
            )
            assert (await wait_for_job(api, job["id"]))["status"] == "completed"
            lines = await _wait_lines(tenant, job["id"], 1)
    assert lines[0]["message"] == "note: key=[redacted]!"
    assert secret not in str(lines)


async def test_each_job_keeps_at_most_its_cap(stack: Stack) -> None:
    job_id = str(uuid.uuid4())
    now = datetime.now(UTC)

    def batch(start: int, count: int) -> list[log_store.LogLine]:
        return [
            log_store.LogLine(job_id=job_id, time=now, level="info", message=f"line {i}")
            for i in range(start, start + count)
        ]

    async with stack.db.write() as session:
        assert await log_store.append_lines(session, batch(0, 3), cap=5) == 3
    async with stack.db.write() as session:
        assert await log_store.append_lines(session, batch(3, 4), cap=5) == 2
    async with stack.db.write() as session:
        assert await log_store.append_lines(session, batch(7, 10), cap=5) == 0
    async with stack.db.read() as session:
        lines = await log_store.list_lines(session, job_id=job_id)
    assert [line.message for line in lines[:5]] == [f"line {i}" for i in range(5)]
    assert len(lines) == 6
    assert lines[5].message.startswith("12 more lines dropped")
    assert lines[5].level == "warning"
    async with stack.db.write() as session:
        huge = log_store.LogLine(
            job_id=str(uuid.uuid4()), time=now, level="info", message="x" * 9000
        )
        await log_store.append_lines(session, [huge])
        stored = await log_store.list_lines(session, job_id=huge.job_id)
    assert len(stored[0].message) == log_store.MAX_MESSAGE_CHARS


@pytest.mark.usefixtures("cli_env")
async def test_cli_logs_follows_a_running_job_to_its_end(
    tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    job = await create_job(tenant.api, data={"steps": 12, "step_seconds": 0.2})
    code, out, _ = await _cli(capsys, "jobs", "logs", "-f", job["id"])
    assert code == 0
    messages = [line.split(": ", 1)[1] for line in out.splitlines()]
    assert messages == [f"step {i}" for i in range(1, 13)]
    assert " info    test-steps.run: step 1" in out.splitlines()[0]

    code, out, _ = await _cli(capsys, "jobs", "logs", job["id"], "-q", "step 1")
    assert code == 0 and len(out.splitlines()) == 4  # step 1, 10, 11, 12

    failing = await create_job(tenant.api, data={"fail_permanently": True, "note": "doomed"})
    code, out, _ = await _cli(capsys, "jobs", "logs", "-f", failing["id"])
    assert code == 1 and out.splitlines()[-1].endswith("note: doomed")
