"""The lifecycle writes on a Core connection (Database.transact_core, prebuilt
statements: insert_job_row, change_job, take/free a slot) write exactly what their ORM
session forms write: the same row, the same events, the same guards."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from jobdeck.activities.slots import SlotRequest, free_slot, take_slot
from jobdeck.clock import utcnow
from jobdeck.domain import EventKind, JobSpec, JobStatus
from jobdeck.store import events as event_store
from jobdeck.store import jobs as job_store
from jobdeck.store import limits as limit_store
from jobdeck.store.tables import Job
from tests.conftest import Stack, new_tenant

_SKIP = {"id", "created_at", "updated_at"}


def _spec(account: Any, job_id: str, **extra: Any) -> JobSpec:
    return JobSpec(
        job_id=job_id,
        organization_id=account.organization_id,
        user_id=account.user_id,
        type="test-steps",
        name="x",
        **extra,
    )


async def _row(stack: Stack, job_id: str) -> dict[str, Any]:
    async with stack.db.read() as session:
        row = (await session.execute(select(Job.__table__).where(Job.id == job_id))).one()
    return {k: v for k, v in row._mapping.items() if k not in _SKIP}


async def _events(stack: Stack, account: Any, job_id: str) -> list[tuple[str, dict[str, Any]]]:
    async with stack.db.read() as session:
        events = await event_store.list_events(
            session, organization_id=account.organization_id, job_id=job_id
        )
    return [(e.kind, {**e.data, "job": {**e.data["job"], "id": None}}) for e in events]


async def test_a_row_inserted_on_core_is_the_orm_row(stack: Stack) -> None:
    account = await new_tenant(stack)
    stamp = utcnow().timestamp()
    by_orm, by_core = f"orm-{stamp}", f"core-{stamp}"
    async with stack.db.write() as session:
        assert await job_store.insert_job(session, spec=_spec(account, by_orm), now=utcnow())

    async def insert(conn: AsyncConnection) -> Any:
        return await job_store.insert_job_row(conn, spec=_spec(account, by_core), now=utcnow())

    state = await stack.db.transact_core(insert)
    assert state is not None and state.id == by_core and state.status == "pending"
    assert await stack.db.transact_core(insert) is None  # there already: nothing written
    assert await _row(stack, by_core) == await _row(stack, by_orm)
    assert await _events(stack, account, by_core) == await _events(stack, account, by_orm)


async def test_change_job_on_core_guards_and_writes_as_on_a_session(stack: Stack) -> None:
    account = await new_tenant(stack)
    stamp = utcnow().timestamp()
    ids = {"orm": f"orm-{stamp}", "core": f"core-{stamp}"}
    async with stack.db.write() as session:
        for job_id in ids.values():
            await job_store.insert_job(session, spec=_spec(account, job_id), now=utcnow())

    def changes(job_id: str) -> list[dict[str, Any]]:
        now = utcnow()
        started = {"status": JobStatus.ACTIVE.value, "started_at": now, "attempts": 1}
        done = {"status": JobStatus.COMPLETED.value, "finished_at": now, "result": {"n": 1}}
        return [
            dict(values=started, from_statuses=[JobStatus.PENDING], kind=EventKind.STARTED),
            # Refused: no longer pending.
            dict(values=started, from_statuses=[JobStatus.PENDING], kind=EventKind.STARTED),
            dict(values=done, kind=EventKind.COMPLETED, returning=[job_store.JOB_HAS_DEPENDANTS]),
            # Refused: a terminal job never changes.
            dict(values={"status": JobStatus.FAILED.value}, kind=EventKind.FAILED),
        ]

    answers: dict[str, list[Any]] = {"orm": [], "core": []}
    for change in changes(ids["orm"]):
        async with stack.db.write() as session:
            state = await job_store.change_job(session, job_id=ids["orm"], now=utcnow(), **change)
            answers["orm"].append(state and state.status)
    for change in changes(ids["core"]):

        async def work(conn: AsyncConnection, change: dict[str, Any] = change) -> Any:
            return await job_store.change_job(conn, job_id=ids["core"], now=utcnow(), **change)

        state = await stack.db.transact_core(work)
        answers["core"].append(state and state.status)
    assert answers["core"] == answers["orm"] == ["active", None, "completed", None]
    orm_row, core_row = await _row(stack, ids["orm"]), await _row(stack, ids["core"])
    assert {k: v for k, v in core_row.items() if not k.endswith("_at")} == {
        k: v for k, v in orm_row.items() if not k.endswith("_at")
    }
    orm_events = await _events(stack, account, ids["orm"])
    core_events = await _events(stack, account, ids["core"])
    assert [kind for kind, _ in core_events] == ["created", "started", "completed"]
    assert [kind for kind, _ in core_events] == [kind for kind, _ in orm_events]


async def test_slots_taken_and_freed_on_core_keep_the_line(stack: Stack) -> None:
    """The fast path holds a slot at once; past the limit the job queues (the ORM path in
    the same transaction), and freeing the held slot lets the queued one through."""
    account = await new_tenant(stack)
    settings = stack.settings.model_copy(update={"limit_active_jobs": 1})
    stamp = utcnow().timestamp()
    first, second = f"first-{stamp}", f"second-{stamp}"
    async with stack.db.write() as session:
        for job_id in (first, second):
            await job_store.insert_job(session, spec=_spec(account, job_id), now=utcnow())

    async def take(job_id: str) -> Any:
        request = SlotRequest(job_id, account.organization_id, "test-steps")

        async def work(conn: AsyncConnection) -> Any:
            return await take_slot(conn, settings, request)

        return await stack.db.transact_core(work)

    answer, others = await take(first)
    assert answer.granted and others == []
    answer, others = await take(first)  # held already: granted again, nothing else
    assert answer.granted and others == []
    answer, others = await take(second)
    assert not answer.granted and answer.ahead == 0 and others == []

    async def free(conn: AsyncConnection) -> list[str]:
        return await free_slot(conn, settings, first)

    assert await stack.db.transact_core(free) == [second]
    assert await stack.db.transact_core(free) == []  # freed already
    async with stack.db.read() as session:
        assert await limit_store.find_slot(session, job_id=first) is None
        slot = await limit_store.find_slot(session, job_id=second)
        assert slot is not None and slot.state == limit_store.HELD
        waited = await job_store.get_job(
            session, organization_id=account.organization_id, job_id=second
        )
    assert waited.progress is None or not waited.progress.get("message")
