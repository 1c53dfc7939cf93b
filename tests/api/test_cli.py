"""The `jobdeck` command against a real API server (uvicorn on a free port)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn

from jobdeck.cli import main
from jobdeck.config import get_settings
from jobdeck.store.migrate import upgrade_async
from tests.conftest import Stack, Tenant


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def api_url(stack: Stack) -> AsyncIterator[str]:
    port = _free_port()
    config = uvicorn.Config(
        stack.app_transport.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # up to 10 s
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture
def cli_env(api_url: str, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI pointed at the test server with the tenant's key."""
    monkeypatch.setenv("JOBDECK_API_URL", api_url)
    monkeypatch.setenv("JOBDECK_API_KEY", tenant.account.key)


async def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_jobs_commands_create_get_list_cancel_retry(
    cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await _cli(
        capsys,
        "jobs",
        "create",
        "test-steps",
        "from the cli",
        "--data",
        '{"steps": 400, "step_seconds": 0.05}',
    )
    assert code == 0
    job = json.loads(out)
    assert job["name"] == "from the cli"

    code, out, _ = await _cli(capsys, "jobs", "list")
    assert code == 0 and job["id"] in out and "from the cli" in out

    code, out, _ = await _cli(capsys, "jobs", "cancel", job["id"])
    assert code == 0
    for _ in range(100):
        code, out, _ = await _cli(capsys, "jobs", "get", job["id"])
        if json.loads(out)["status"] == "cancelled":
            break
        await asyncio.sleep(0.1)
    assert json.loads(out)["status"] == "cancelled"

    code, out, _ = await _cli(capsys, "jobs", "retry", job["id"])
    assert code == 0 and json.loads(out)["retryOf"] == job["id"]
    await _cli(capsys, "jobs", "cancel", json.loads(out)["id"])

    code, out, _ = await _cli(capsys, "jobs", "events", job["id"])
    kinds = [e["kind"] for e in json.loads(out)["data"]]
    assert kinds[0] == "created" and "cancelled" in kinds and kinds[-1] == "retried"


async def test_jobs_create_depends_on(cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    ids = []
    for name in ("first", "second"):
        code, out, _ = await _cli(capsys, "jobs", "create", "test-steps", name)
        assert code == 0
        ids.append(json.loads(out)["id"])
    argv = ["jobs", "create", "test-steps", "after", "--depends-on", ids[0], "--depends-on", ids[1]]
    code, out, _ = await _cli(capsys, *argv)
    assert code == 0 and json.loads(out)["dependsOn"] == ids
    code, _, err = await _cli(capsys, "jobs", "create", "test-steps", "x", "--depends-on", "nope")
    assert code == 1 and err.startswith("error 422: dependsOn: job nope not found")


async def test_cli_errors_are_readable(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = await _cli(capsys, "jobs", "create", "nope", "x")
    assert code == 1
    assert err.startswith("error 422: unknown job type 'nope'")
    code, _, err = await _cli(capsys, "jobs", "create", "test-steps", "x", "--data", "{oops")
    assert code == 2 and "--data is not JSON" in err
    monkeypatch.setenv("JOBDECK_API_KEY", "jd_wrong_key")
    code, _, err = await _cli(capsys, "jobs", "list")
    assert code == 1 and "error 401" in err


async def test_admin_creates_users_and_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}"
    await upgrade_async(url)
    monkeypatch.setenv("JOBDECK_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        code, out, _ = await _cli(
            capsys,
            "admin",
            "create-user",
            "--org",
            "acme",
            "--email",
            "Ada@Acme.test",
            "--role",
            "admin",
        )
        assert code == 0 and "API key (shown once): jd_" in out
        code, out, _ = await _cli(capsys, "admin", "create-key", "--email", "ada@acme.test")
        assert code == 0 and "jd_" in out
        code, _, err = await _cli(
            capsys, "admin", "create-user", "--org", "acme", "--email", "ada@acme.test"
        )
        assert code == 1 and "exists already" in err
        code, _, err = await _cli(capsys, "admin", "create-key", "--email", "who@acme.test")
        assert code == 1 and "no user with email" in err
    finally:
        get_settings.cache_clear()


async def test_jobs_watch_follows_a_job_to_its_end(
    cli_env: None, tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    job = (
        await tenant.api.post(
            "/api/jobs",
            json={
                "type": "test-steps",
                "name": "watch me",
                "data": {"steps": 5, "step_seconds": 0.05},
            },
        )
    ).json()
    code, out, _ = await _cli(capsys, "jobs", "watch", job["id"])
    assert code == 0
    assert out.splitlines()[-1].endswith("completed")
    failing = (
        await tenant.api.post(
            "/api/jobs",
            json={"type": "test-steps", "name": "fails", "data": {"fail_permanently": True}},
        )
    ).json()
    code, out, _ = await _cli(capsys, "jobs", "watch", failing["id"])
    assert code == 1 and out.splitlines()[-1].endswith("failed")
