"""The operator's jobs list (issue 18, migration 0012): the indexes PostgreSQL reads for
the duration sort, the search and the type filter; a bulk operation under the list's time
range, priority and owner filters; the watchdog's `stuck` on the job view; and the task
queues for admins only."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from jobdeck.clock import utcnow
from jobdeck.store import accounts
from jobdeck.store import schedules as schedule_store
from jobdeck.store.accounts import Role
from jobdeck.store.tables import JOB_DURATION_MS, JOB_SEARCH_TEXTS, Job
from tests.conftest import Stack, Tenant, new_tenant
from tests.helpers import create_job, wait_for_job


async def _plan(session: AsyncSession, stmt: Any) -> str:
    """The indexes PostgreSQL's plan of `stmt` reads, with sequential scans and sorts priced
    out (the tables here are tiny): fails unless an index serves the query as it is."""
    await session.execute(text("SET LOCAL enable_seqscan = off"))
    await session.execute(text("SET LOCAL enable_sort = off"))
    compiled = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    rows = await session.execute(text(f"EXPLAIN (FORMAT JSON) {compiled}"))
    return json.dumps(rows.scalar_one())


async def test_postgresql_reads_an_index_for_each_list_query(stack: Stack, tenant: Tenant) -> None:
    if stack.db.is_sqlite:
        pytest.skip("PostgreSQL's expression indexes")
    org = tenant.account.organization_id
    by_org = select(Job.id).where(Job.organization_id == org)
    async with stack.db.read() as session:
        # The sort key is the expression of ix_jobs_org_duration, in either direction.
        for key in (JOB_DURATION_MS.desc(), JOB_DURATION_MS.asc()):
            plan = await _plan(session, by_org.order_by(key, Job.created_at, Job.id).limit(51))
            assert "ix_jobs_org_duration" in plan, plan
    async with stack.db.read() as session:
        search = or_(*(t.contains("invoice", autoescape=True) for t in JOB_SEARCH_TEXTS))
        # (Every organization's: on a near-empty table its own index would do as well.)
        plan = await _plan(session, select(Job.id).where(search))
        assert "ix_jobs_search" in plan, plan
    async with stack.db.read() as session:
        typed = by_org.where(Job.type == "fine-tuning").order_by(Job.created_at.desc())
        assert "ix_jobs_org_type_created" in await _plan(session, typed.limit(51))


async def _rows(stack: Stack, tenant: Tenant) -> tuple[list[str], str]:
    """Six pending jobs an hour apart (job 0 the oldest), priorities 1, 2, 1, 2, 1, 2; job 3
    is a colleague's. Returns their ids and the colleague's user id."""
    now = utcnow().replace(microsecond=0)
    async with stack.db.write() as session:
        colleague = await accounts.create_user(
            session,
            organization_id=tenant.account.organization_id,
            email=f"c-{uuid.uuid4().hex[:6]}@example.com",
            name="Colleague",
            role=Role.MEMBER,
            now=now,
        )
    ids = [str(uuid.uuid4()) for _ in range(6)]
    rows = [
        {
            "id": job_id,
            "organization_id": tenant.account.organization_id,
            "user_id": colleague.id if i == 3 else tenant.account.user_id,
            "type": "test-steps",
            "name": f"listed {i}",
            "status": "pending",
            "priority": 1 + i % 2,
            "data": {},
            "attempts": 0,
            "created_at": now - timedelta(hours=6 - i),
            "updated_at": now - timedelta(hours=6 - i),
        }
        for i, job_id in enumerate(ids)
    ]
    async with stack.db.write() as session:
        await session.execute(insert(Job), rows)
    return ids, colleague.id


async def _bulk_targets(tenant: Tenant, flt: dict[str, Any]) -> list[str]:
    """Start a bulk cancel of `flt`, wait for it, and answer the ids it worked on."""
    job = await create_job(
        tenant.api, type="bulk-operation", name="bulk", data={"action": "cancel", "filter": flt}
    )
    done = await wait_for_job(tenant.api, job["id"], within=60)
    assert done["status"] == "completed", done
    items = (await tenant.api.get(f"/api/jobs/{job['id']}/items", params={"limit": 200})).json()
    return sorted(item["key"] for item in items["data"])


async def test_a_bulk_operation_carries_the_time_range_priority_and_owner(
    stack: Stack, tenant: Tenant
) -> None:
    ids, colleague = await _rows(stack, tenant)
    now = utcnow()
    # Created from 5.5 to 1.5 hours ago: jobs 1, 2, 3 and 4.
    window = {
        "createdAfter": (now - timedelta(hours=5.5)).isoformat(),
        "createdBefore": (now - timedelta(hours=1.5)).isoformat(),
    }
    # ...of priority 2 (jobs 1 and 3), and mine (not 3): job 1 alone.
    mine = await _bulk_targets(tenant, {**window, "priorities": [2], "owner": "me"})
    assert mine == [ids[1]]
    # The colleague's, by user id, at any time: job 3.
    assert await _bulk_targets(tenant, {"owner": colleague}) == [ids[3]]
    # A naive time is UTC; priorities may be several.
    naive = (now - timedelta(hours=2.5)).replace(tzinfo=None).isoformat()
    assert await _bulk_targets(tenant, {"createdBefore": naive, "priorities": [1]}) == sorted(
        [ids[0], ids[2]]
    )


@pytest.mark.parametrize(
    ("flt", "message"),
    [
        (
            {"priorities": [0]},
            "priorities.0: Input should be greater than or equal to 1",
        ),
        ({"priorities": [6]}, "data.filter.priorities.0: Input should be less than or equal to 5"),
        ({"priorities": ["high"]}, "data.filter.priorities.0: Input should be a valid integer"),
        ({"priorities": [1, 2, 3, 4, 5, 1]}, "data.filter.priorities: List should have at most 5"),
        ({"owner": ""}, "data.filter.owner: String should have at least 1 character"),
        ({"owner": "x" * 37}, "data.filter.owner: String should have at most 36 characters"),
        (
            {"createdAfter": "yesterday"},
            "filter.createdAfter: Input should be a valid datetime",
        ),
        (
            {"createdAfter": "2026-02-01T00:00:00Z", "createdBefore": "2026-01-01T00:00:00Z"},
            "createdAfter must be earlier than createdBefore",
        ),
    ],
)
async def test_bad_bulk_filters_are_a_clear_422(
    tenant: Tenant, flt: dict[str, Any], message: str
) -> None:
    body = {"type": "bulk-operation", "name": "x", "data": {"action": "cancel", "filter": flt}}
    response = await tenant.api.post("/api/jobs", json=body)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]


async def test_the_job_view_says_while_the_watchdog_finds_it_stuck(
    stack: Stack, tenant: Tenant
) -> None:
    ids, _ = await _rows(stack, tenant)
    now = utcnow()
    since = now - timedelta(minutes=14)
    async with stack.db.write() as session:
        await schedule_store.mark_stuck(
            session,
            job_id=ids[5],
            organization_id=tenant.account.organization_id,
            reason="no_progress",
            since=since,
            now=now,
        )
    listed = (await tenant.api.get("/api/jobs")).json()["data"]
    stuck = {job["id"]: job["stuck"] for job in listed}
    assert stuck[ids[5]]["reason"] == "no_progress"
    assert (
        abs(
            (utcnow() - timedelta(minutes=14)).timestamp()
            - datetime.fromisoformat(stuck[ids[5]]["since"]).timestamp()
        )
        < 60
    )
    assert stuck[ids[4]] is None
    one = (await tenant.api.get(f"/api/jobs/{ids[5]}")).json()
    assert one["stuck"]["reason"] == "no_progress"
    async with stack.db.write() as session:
        await schedule_store.clear_stuck(session, job_id=ids[5])
    assert (await tenant.api.get(f"/api/jobs/{ids[5]}")).json()["stuck"] is None


async def test_the_task_queues_are_for_admins_only(stack: Stack, tenant: Tenant) -> None:
    member = await new_tenant(stack, role=Role.MEMBER)
    async with stack.client(member.key) as api:
        response = await api.get("/api/operations/queues")
    assert response.status_code == 403
    assert response.json()["detail"] == "this needs an admin of the organization"
    assert (await tenant.api.get("/api/operations/queues")).status_code == 200
