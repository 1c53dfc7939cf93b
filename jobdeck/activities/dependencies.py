"""Job dependencies: the bookkeeping through which a job created with `dependsOn` waits
for those jobs (see workflows/dependencies.py for the wait itself).

A dependant's check and a dependency's ending record are both write transactions that
append an event, so they are serialised (SQLite's one writer; PostgreSQL's event-order
lock, which the check takes first): either the check sees the dependency ended, or the
ending sees the dependant's rows and signals it. A signal that still gets lost (a worker
killed between the commit and the signal) only delays the dependant until its recheck.
"""

# No `from __future__ import annotations` here: DependencyAnswer is decoded in the workflow
# sandbox, where this module's names are not at hand to resolve annotations given as text.

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from jobdeck.domain import JobErrorInfo, JobSpec, JobStatus
from jobdeck.store import dependencies as dependency_store
from jobdeck.store import jobs as job_store
from jobdeck.store.events import order_events

logger = logging.getLogger(__name__)

DEPENDENCY_FINISHED_SIGNAL = "jobdeck.dependency-finished"
WAITING_MESSAGE = "waiting for "
_NAMED = 3  # the jobs a waiting message names; the rest are counted
_SIGNALS_AT_ONCE = 20
_RPC_TIMEOUT = timedelta(seconds=5)


@dataclass
class DependencyAnswer:
    # Every job it depends on completed: the job may go on.
    ready: bool
    # Set when one of them failed or was cancelled: the job ends cancelled with this error.
    blocked: dict[str, Any] | None = None
    recheck_s: float = 60.0
    message: str | None = None


def waiting_message(names: list[str]) -> str:
    shown = ", ".join(names[:_NAMED])
    more = f" and {len(names) - _NAMED} more" if len(names) > _NAMED else ""
    return f"{WAITING_MESSAGE}{len(names)} job{'s' if len(names) != 1 else ''}: {shown}{more}"


def blocked_error(job_id: str, name: str | None, status: str | None) -> JobErrorInfo:
    """Why a dependant is cancelled: the job it depends on that did not complete."""
    which = f"job {job_id}" + (f" ({name})" if name else "")
    if status is None:
        return JobErrorInfo(
            type="DependencyMissing",
            message=f"{which}, which this job depends on, no longer exists",
            details={"jobId": job_id},
        )
    kind = "DependencyFailed" if status == JobStatus.FAILED else "DependencyCancelled"
    return JobErrorInfo(
        type=kind,
        message=f"{which}, which this job depends on, was {status}",
        details={"jobId": job_id, "status": status},
    )


async def check(
    session: AsyncSession, spec: JobSpec, *, now: datetime, recheck_s: float
) -> DependencyAnswer:
    """Within one write transaction: the state of the jobs `spec` depends on, with the
    dependant's row written if the API has not yet, and its waiting message kept current
    (written only when it changes)."""
    await order_events(session)  # first: it orders this check against the endings
    if await job_store.job_state(session, job_id=spec.job_id) is None:
        await job_store.insert_job(session, spec=spec, now=now)
    found = await dependency_store.states(session, job_ids=spec.depends_on)
    unfinished: list[str] = []
    for job_id in spec.depends_on:
        state = found.get(job_id)
        if state is None or state.status in (JobStatus.FAILED, JobStatus.CANCELLED):
            error = blocked_error(job_id, state and state.name, state and state.status)
            return DependencyAnswer(ready=False, blocked=error.to_json(), recheck_s=recheck_s)
        if state.status != JobStatus.COMPLETED:
            unfinished.append(state.name)
    message = waiting_message(unfinished) if unfinished else None
    await _show(session, job_id=spec.job_id, message=message, now=now)
    return DependencyAnswer(ready=not unfinished, recheck_s=recheck_s, message=message)


async def _show(session: AsyncSession, *, job_id: str, message: str | None, now: datetime) -> None:
    """Say in the pending job's progress what it waits for (None: nothing any more, so
    the waiting message goes)."""
    await job_store.show_waiting(
        session, job_id=job_id, stage="waiting", message=message, clears=WAITING_MESSAGE, now=now
    )


async def signal_dependants(client: Client, job_id: str, dependants: list[str]) -> None:
    """Wake the jobs waiting for `job_id`, which has ended. Best effort: one that cannot
    be told finds out at its recheck."""

    async def tell(dependant: str) -> None:
        try:
            await client.get_workflow_handle(dependant).signal(
                DEPENDENCY_FINISHED_SIGNAL, rpc_timeout=_RPC_TIMEOUT
            )
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:  # not found: it has ended already
                logger.warning(
                    "cannot wake a job waiting for another",
                    extra={"job_id": dependant, "dependency": job_id, "error": str(err)},
                )

    for start in range(0, len(dependants), _SIGNALS_AT_ONCE):
        await asyncio.gather(*(tell(d) for d in dependants[start : start + _SIGNALS_AT_ONCE]))
