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
from temporalio.service import RPCError

from jobdeck.clock import utcnow
from jobdeck.fairness.limits import Limits
from jobdeck.runtime import Runtime
from jobdeck.store import limits as limit_store

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


class SlotKeeper:
    """Registered on every task queue beside the job records (see worker.py)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.db = runtime.db
        self.settings = runtime.settings

    def all(self) -> list[Callable[..., Any]]:
        return [self.acquire, self.release]

    async def limits(self, organization_id: str) -> Limits:
        async with self.db.read() as session:
            found = await limit_store.overrides(session, organization_id=organization_id)
        return Limits.of(self.settings, found)

    @activity.defn(name="jobs.slots.acquire")
    async def acquire(self, request: SlotRequest) -> SlotAnswer:
        """Take the job's place in line and a slot if its turn has come."""
        limits = await self.limits(request.organization_id)
        recheck = self.settings.slot_recheck_s

        async def work(session: AsyncSession) -> tuple[SlotAnswer, list[str]]:
            now = utcnow()
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
            slot = await limit_store.find_slot(session, job_id=request.job_id)
            assert slot is not None
            if slot.state == limit_store.HELD:
                await limit_store.show_place(session, job_id=request.job_id, ahead=None, now=now)
                return SlotAnswer(granted=True, recheck_s=recheck), granted
            ahead = await limit_store.ahead_of(session, slot=slot)
            await limit_store.show_place(session, job_id=request.job_id, ahead=ahead, now=now)
            return SlotAnswer(granted=False, ahead=ahead, recheck_s=recheck), granted

        answer, granted = await self.db.transact(work)
        await self._wake([job for job in granted if job != request.job_id])
        return answer

    @activity.defn(name="jobs.slots.release")
    async def release(self, request: SlotRequest) -> None:
        """Free the job's slot (or its place in line) and let the next jobs through."""
        limits = await self.limits(request.organization_id)

        async def work(session: AsyncSession) -> list[str]:
            now = utcnow()
            await limit_store.leave_line(session, job_id=request.job_id)
            granted = await limit_store.admit(
                session, organization_id=request.organization_id, limits=limits, now=now
            )
            for job_id in granted:
                await limit_store.show_place(session, job_id=job_id, ahead=None, now=now)
            waiting = await limit_store.line(
                session, organization_id=request.organization_id, limit=_SHOWN_ON_RELEASE
            )
            for ahead, slot in enumerate(waiting):
                await limit_store.show_place(session, job_id=slot.job_id, ahead=ahead, now=now)
            return granted

        await self._wake(await self.db.transact(work))

    async def rebalance(self, organization_id: str) -> list[str]:
        """Let waiting jobs through after the organization's limits changed (no release
        will come to do it if a limit was raised); returns the jobs let through."""
        limits = await self.limits(organization_id)

        async def work(session: AsyncSession) -> list[str]:
            now = utcnow()
            granted = await limit_store.admit(
                session, organization_id=organization_id, limits=limits, now=now
            )
            for job_id in granted:
                await limit_store.show_place(session, job_id=job_id, ahead=None, now=now)
            return granted

        granted = await self.db.transact(work)
        await self._wake(granted)
        return granted

    async def _wake(self, job_ids: list[str]) -> None:
        """Tell the jobs let through; one that cannot be told finds out at its recheck."""
        for job_id in job_ids:
            try:
                await self.runtime.temporal.get_workflow_handle(job_id).signal(SLOT_GRANTED_SIGNAL)
            except RPCError as err:
                logger.warning(
                    "cannot wake a job given a slot", extra={"job_id": job_id, "error": str(err)}
                )
