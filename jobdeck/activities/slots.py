"""Concurrency slots: the bookkeeping steps through which a job waits for, takes and frees
its place under its organization's limits (see store/limits.py for the line itself).

A job that finds no free slot does not hold a worker slot while it waits: its workflow
sleeps on a durable timer and is woken by a signal from whichever job's release let it
through (the timer is a backstop, `slot_recheck_s`). Limits are read from the database on
every pass, so a changed limit holds at the next pass, with no worker restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError

from jobdeck.clock import utcnow
from jobdeck.config import Settings
from jobdeck.fairness.limits import Limits
from jobdeck.runtime import Runtime
from jobdeck.store import limits as limit_store
from jobdeck.store.events import Executor, as_session

logger = logging.getLogger(__name__)

SLOT_GRANTED_SIGNAL = "jobdeck.slot-granted"
# Pending jobs whose "(N ahead)" a release refreshes at once; the others refresh theirs
# when they next check (their place only ever improves).
_SHOWN_ON_RELEASE = 20


@dataclass
class SlotRequest:
    job_id: str
    organization_id: str
    job_type: str
    priority: int = 3


@dataclass
class SlotAnswer:
    granted: bool
    ahead: int = 0
    recheck_s: float = 30.0


async def limits_of(session: Executor, settings: Settings, organization_id: str) -> Limits:
    found = await limit_store.overrides(session, organization_id=organization_id)
    return Limits.of(settings, found)


async def take_slot(
    db: Executor, settings: Settings, request: SlotRequest
) -> tuple[SlotAnswer, list[str]]:
    """Within the caller's transaction: the job's slot if its turn has come, else its place
    in line; with the other jobs this pass let through (to be woken once it commits).

    The usual case (no slot yet and room at once, or a slot held already) runs prebuilt
    statements on `db`, a Core connection on the hot path; the line runs on the ORM (see
    events.as_session), in the same transaction."""
    now = utcnow()
    recheck = settings.slot_recheck_s
    state = await limit_store.slot_state(db, job_id=request.job_id)
    if state == limit_store.HELD:
        # Held already: a continued-as-new run of the job, or this step run again.
        await limit_store.show_place(db, job_id=request.job_id, ahead=None, now=now)
        return SlotAnswer(granted=True, recheck_s=recheck), []
    limits = await limits_of(db, settings, request.organization_id)
    if state is None and await limit_store.hold_at_once(
        db,
        job_id=request.job_id,
        organization_id=request.organization_id,
        job_type=request.job_type,
        priority=request.priority,
        limits=limits,
        now=now,
    ):
        return SlotAnswer(granted=True, recheck_s=recheck), []
    async with as_session(db) as session:
        if state is None:
            await limit_store.enter_line(
                session,
                job_id=request.job_id,
                organization_id=request.organization_id,
                job_type=request.job_type,
                priority=request.priority,
                now=now,
            )
        granted = await limit_store.admit(
            session, organization_id=request.organization_id, limits=limits, now=now
        )
        others = [job for job in granted if job != request.job_id]
        slot = await limit_store.find_slot(session, job_id=request.job_id)
        assert slot is not None
        if slot.state == limit_store.HELD:
            await limit_store.show_place(session, job_id=request.job_id, ahead=None, now=now)
            return SlotAnswer(granted=True, recheck_s=recheck), others
        ahead = await limit_store.ahead_of(session, slot=slot)
        await limit_store.show_place(session, job_id=request.job_id, ahead=ahead, now=now)
        return SlotAnswer(granted=False, ahead=ahead, recheck_s=recheck), others


async def free_slot(db: Executor, settings: Settings, job_id: str) -> list[str]:
    """Within the caller's transaction: free the job's slot (or its place in line), if it
    has one, and let the next jobs through; returns them (to be woken once it commits).
    Prebuilt statements on `db` (a Core connection on the hot path) unless jobs wait."""
    organization_id = await limit_store.free(db, job_id=job_id)
    if organization_id is None or not await limit_store.someone_waits(
        db, organization_id=organization_id
    ):
        return []
    async with as_session(db) as session:
        return await _let_through(session, settings, organization_id, show_line=True)


async def _let_through(
    session: AsyncSession, settings: Settings, organization_id: str, *, show_line: bool
) -> list[str]:
    now = utcnow()
    limits = await limits_of(session, settings, organization_id)
    granted = await limit_store.admit(
        session, organization_id=organization_id, limits=limits, now=now
    )
    for job_id in granted:
        await limit_store.show_place(session, job_id=job_id, ahead=None, now=now)
    if show_line:
        waiting = await limit_store.line(
            session, organization_id=organization_id, limit=_SHOWN_ON_RELEASE
        )
        for ahead, slot in enumerate(waiting):
            await limit_store.show_place(session, job_id=slot.job_id, ahead=ahead, now=now)
    return granted


async def wake(client: Client, job_ids: list[str]) -> None:
    """Tell the jobs let through; one that cannot be told finds out at its recheck."""
    for job_id in job_ids:
        try:
            await client.get_workflow_handle(job_id).signal(SLOT_GRANTED_SIGNAL)
        except RPCError as err:
            logger.warning(
                "cannot wake a job given a slot", extra={"job_id": job_id, "error": str(err)}
            )


class SlotKeeper:
    """Registered on every task queue beside the job records (see worker.py). Since the
    "slots-in-records" patch a job takes its slot in `jobs.begin` and frees it in its
    ending record (activities/records.py); these steps remain for the jobs that wait (a
    recheck) or mark their start themselves, and for runs begun before."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.db = runtime.db
        self.settings = runtime.settings

    def all(self) -> list[Callable[..., Any]]:
        return [self.acquire, self.release]

    @activity.defn(name="jobs.slots.acquire")
    async def acquire(self, request: SlotRequest) -> SlotAnswer:
        """Take the job's place in line and a slot if its turn has come."""

        async def work(session: AsyncSession) -> tuple[SlotAnswer, list[str]]:
            return await take_slot(session, self.settings, request)

        answer, granted = await self.db.transact(work)
        await wake(self.runtime.temporal, granted)
        return answer

    @activity.defn(name="jobs.slots.release")
    async def release(self, request: SlotRequest) -> None:
        """Free the job's slot (or its place in line) and let the next jobs through."""

        async def work(session: AsyncSession) -> list[str]:
            return await free_slot(session, self.settings, request.job_id)

        await wake(self.runtime.temporal, await self.db.transact(work))

    async def rebalance(self, organization_id: str) -> list[str]:
        """Let waiting jobs through after the organization's limits changed (no release
        will come to do it if a limit was raised); returns the jobs let through."""

        async def work(session: AsyncSession) -> list[str]:
            return await _let_through(session, self.settings, organization_id, show_line=False)

        granted = await self.db.transact(work)
        await wake(self.runtime.temporal, granted)
        return granted
