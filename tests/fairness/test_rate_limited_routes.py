"""The creation rate limit also holds on the routes that create jobs by another door:
POST /api/fine-tuning/jobs and POST /api/datasets/{id}/validate answer 429 with
Retry-After and RateLimit-* headers once the caller's bucket is empty, and nothing (no
job, no fine-tuning record) is written for the refused request. They draw from the same
bucket as POST /api/jobs: a job creation is a job creation, whichever route asks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from jobdeck.admin import Created
from jobdeck.store.tables import FineTuning, Job
from tests.conftest import Stack, new_tenant, open_stack
from tests.fine_tuning.conftest import chat_jsonl, upload_dataset

LIMITS = {
    "rate_creates_per_minute_key": 6.0,  # bursts of 2 (20 s of it)
    "rate_creates_per_minute_org": 0.0,  # no organization limit: the key's is under test
}


@dataclass
class Limited:
    stack: Stack
    account: Created
    api: httpx.AsyncClient


@pytest.fixture
async def limited(stack: Stack) -> AsyncIterator[Limited]:
    """A fresh organization on an API with a low creation limit, on a task queue no worker
    polls: the jobs it creates stay pending and reach no provider; they are terminated at
    the end."""
    async with open_stack(
        stack,
        workers=False,
        task_queue=f"rl-{uuid.uuid4().hex[:8]}",
        openai_api_key=SecretStr("sk-never-called"),
        **LIMITS,
    ) as limited_stack:
        account = await new_tenant(limited_stack)
        async with limited_stack.client(account.key) as api:
            yield Limited(limited_stack, account, api)
        async with limited_stack.db.read() as session:
            stmt = select(Job.id).where(Job.organization_id == account.organization_id)
            ids = list((await session.execute(stmt)).scalars())
        for job_id in ids:
            await limited_stack.runtime.temporal.get_workflow_handle(job_id).terminate("test over")


async def _count(stack: Stack, table: type[Job] | type[FineTuning], org: str) -> int:
    async with stack.db.read() as session:
        stmt = select(func.count()).select_from(table).where(table.organization_id == org)
        return int((await session.execute(stmt)).scalar_one())


def _assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    detail = response.json()["detail"]
    assert detail.startswith("too many job creations per API key: the limit is 6 a minute")
    retry = int(response.headers["Retry-After"])
    assert 1 <= retry <= 10
    assert response.headers["RateLimit-Limit"] == "2"
    assert response.headers["RateLimit-Remaining"] == "0"
    assert int(response.headers["RateLimit-Reset"]) == retry
    assert response.headers["RateLimit-Policy"] == "2;w=20"


async def _fine_tune(api: httpx.AsyncClient, dataset_id: str, name: str) -> httpx.Response:
    body = {"name": name, "datasetId": dataset_id, "baseModel": "gpt-4o-mini", "provider": "openai"}
    return await api.post("/api/fine-tuning/jobs", json=body)


async def test_fine_tuning_creations_past_the_limit_get_429_and_write_nothing(
    limited: Limited,
) -> None:
    api = limited.api
    dataset_id = await upload_dataset(api, chat_jsonl())  # uploads: a bucket of their own
    first = await _fine_tune(api, dataset_id, "one")
    second = await _fine_tune(api, dataset_id, "two")
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert first.headers["RateLimit-Limit"] == "2"
    assert first.headers["RateLimit-Remaining"] == "1"
    assert second.headers["RateLimit-Remaining"] == "0"
    refused = await _fine_tune(api, dataset_id, "three")
    _assert_refused(refused)
    # Refused before the body's checks: a bad request is not worth a token either.
    bad = await _fine_tune(api, "no-such-dataset", "four")
    assert bad.status_code == 429
    org = limited.account.organization_id
    assert await _count(limited.stack, FineTuning, org) == 2
    assert await _count(limited.stack, Job, org) == 2


async def test_validations_past_the_limit_get_429_and_create_no_job(limited: Limited) -> None:
    api = limited.api
    dataset_id = await upload_dataset(api, chat_jsonl())
    url = f"/api/datasets/{dataset_id}/validate"
    first, second = await api.post(url, json={}), await api.post(url, json={})
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert second.headers["RateLimit-Remaining"] == "0"
    refused = await api.post(url, json={})
    _assert_refused(refused)
    assert await _count(limited.stack, Job, limited.account.organization_id) == 2


async def test_the_three_creating_routes_share_one_bucket(limited: Limited) -> None:
    api = limited.api
    dataset_id = await upload_dataset(api, chat_jsonl())
    made = await api.post("/api/jobs", json={"type": "test-steps", "name": "a", "data": {}})
    assert made.status_code == 201, made.text
    validated = await api.post(f"/api/datasets/{dataset_id}/validate", json={})
    assert validated.status_code == 201, validated.text
    _assert_refused(await _fine_tune(api, dataset_id, "over"))
    _assert_refused(
        await api.post("/api/jobs", json={"type": "test-steps", "name": "b", "data": {}})
    )
    assert await _count(limited.stack, Job, limited.account.organization_id) == 2
    assert await _count(limited.stack, FineTuning, limited.account.organization_id) == 0
