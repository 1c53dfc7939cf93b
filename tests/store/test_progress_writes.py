"""A progress report's write (the hot path of ProgressReporter, on a Core connection with
prebuilt statements) keeps what the feed needs: the job row's progress, one event per
report carrying the job's state, in id order after the job's other events, and nothing
at all for a job that has ended or does not exist."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncConnection

from jobdeck.activities.records import JobRecords
from jobdeck.clock import utcnow
from jobdeck.domain import EventKind, JobSpec, JobStatus, Progress
from jobdeck.store import events as event_store
from jobdeck.store import jobs as job_store
from tests.conftest import Stack, new_tenant


async def _running_job(stack: Stack) -> tuple[JobRecords, JobSpec]:
    account = await new_tenant(stack)
    spec = JobSpec(
        job_id=f"progress-{utcnow().timestamp()}",
        organization_id=account.organization_id,
        user_id=account.user_id,
        type="test-steps",
        name="x",
    )
    records = JobRecords(stack.db, stack.settings)
    await records.start(spec)
    return records, spec


async def _report(stack: Stack, job_id: str, progress: Progress, *, derived: bool) -> bool:
    async def work(conn: AsyncConnection) -> bool:
        return await job_store.report_progress(
            conn, job_id=job_id, progress=progress, now=utcnow(), derived=derived
        )

    return await stack.db.transact_core(work)


async def test_each_report_writes_the_row_and_one_event_carrying_it(stack: Stack) -> None:
    records, spec = await _running_job(stack)
    first = Progress(current=10, total=100, stage="load", message="ten")
    await records.save_progress(spec.job_id, first)
    await asyncio.sleep(0.01)  # the next report's rate comes from the time between them
    # Not derived: the rate comes from the row's report before it.
    await records.save_progress(spec.job_id, Progress(current=30, total=100, stage="load"))
    # Derived by the reporter: stored as given, not derived again.
    given = Progress(current=50, total=100, stage="load", rate=7.5, eta=6.7)
    await records.save_progress(spec.job_id, given, derived=True)

    async with stack.db.read() as session:
        job = await job_store.get_job(
            session, organization_id=spec.organization_id, job_id=spec.job_id
        )
        events = await event_store.list_events(
            session, organization_id=spec.organization_id, job_id=spec.job_id
        )
    assert [e.kind for e in events] == ["created", "started", "progress", "progress", "progress"]
    assert [e.id for e in events] == sorted(e.id for e in events)
    reports = [e.data["job"]["progress"] for e in events[2:]]
    assert [r["current"] for r in reports] == [10, 30, 50]
    assert reports[0]["message"] == "ten" and reports[0]["percent"] == 10
    assert reports[1]["rate"] is not None and reports[1]["rate"] > 0  # 20 in ~10 ms
    assert reports[2] == given.to_json()
    assert job.progress == given.to_json()  # the row holds the last report
    for event in events[2:]:
        state = event.data["job"]
        assert state["id"] == spec.job_id and state["status"] == JobStatus.ACTIVE.value
        assert state["startedAt"] is not None and state["attempts"] == 1
        assert event.organization_id == spec.organization_id
        assert event.created_at.tzinfo is not None


async def test_an_ended_or_missing_job_gets_no_report(stack: Stack) -> None:
    records, spec = await _running_job(stack)
    async with stack.db.write() as session:
        ended = await job_store.change_job(
            session,
            job_id=spec.job_id,
            kind=EventKind.COMPLETED,
            now=utcnow(),
            values={"status": JobStatus.COMPLETED.value, "finished_at": utcnow()},
        )
    assert ended is not None
    late = Progress(current=99, total=100)
    assert await _report(stack, spec.job_id, late, derived=False) is False
    assert await _report(stack, spec.job_id, late, derived=True) is False
    assert await _report(stack, "no-such-job", late, derived=False) is False
    assert await _report(stack, "no-such-job", late, derived=True) is False

    async with stack.db.read() as session:
        job = await job_store.get_job(
            session, organization_id=spec.organization_id, job_id=spec.job_id
        )
        events = await event_store.list_events(
            session, organization_id=spec.organization_id, job_id=spec.job_id
        )
    assert [e.kind for e in events] == ["created", "started", "completed"]
    assert job.status == JobStatus.COMPLETED.value and job.progress is None
