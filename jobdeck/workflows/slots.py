"""A job's wait for a concurrency slot, in workflow code: the lifecycle runs a job's
`execute` through `run_in_slot` (behind the "concurrency-slots" patch).

The job stays `pending` (its progress says "waiting for a slot (N ahead)") until its turn
comes under its organization's limits, then runs, and frees its slot however it ends:
completed, failed or cancelled, while waiting or while running. The wait holds no worker
slot: the workflow sleeps until a release's signal wakes it, or its recheck timer fires.

Signals: `jobdeck.slot-granted` (sent by the release that let the job through).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Protocol, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from jobdeck.activities.slots import (
        SLOT_GRANTED_SIGNAL,
        SlotAnswer,
        SlotKeeper,
        SlotRequest,
    )
    from jobdeck.domain import JobSpec, JobStatus

T = TypeVar("T")

# Bookkeeping: retried without limit (a database outage must not end the job).
_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)


class _Status(Protocol):
    status: JobStatus


async def _slot_step(method: Callable[..., Awaitable[T]], request: SlotRequest) -> T:
    return await workflow.execute_local_activity_method(
        method, request, start_to_close_timeout=timedelta(seconds=30), retry_policy=_RETRY
    )


async def run_in_slot(
    spec: JobSpec,
    state: _Status,
    run: Callable[[], Awaitable[T]],
    *,
    first: SlotAnswer | None = None,
    frees: bool = True,
) -> T:
    """Wait for a slot, run the job, free the slot. `first`: the answer of the job's
    first step, which asked already (jobs.begin); `frees=False`: the job's ending record
    frees the slot (since the "slots-in-records" patch), in its own transaction."""
    if spec.parent_id is not None:
        # A child job (a pipeline step, a bulk target) runs in its parent's slot: waiting
        # for one of its own could deadlock a parent that waits for it.
        return await run()
    request = SlotRequest(spec.job_id, spec.organization_id, spec.type, spec.priority)
    woken = [False]

    def on_granted() -> None:
        woken[0] = True

    workflow.set_signal_handler(SLOT_GRANTED_SIGNAL, on_granted)
    was = state.status
    keep = False
    try:
        while True:
            woken[0] = False
            if first is not None:
                answer, first = first, None
            else:
                answer = await _slot_step(SlotKeeper.acquire, request)
            if answer.granted:
                break
            state.status = JobStatus.PENDING
            try:
                await workflow.wait_condition(
                    lambda: woken[0], timeout=timedelta(seconds=answer.recheck_s)
                )
            except TimeoutError:
                pass  # the backstop: check again
        state.status = was
        return await run()
    except workflow.ContinueAsNewError:
        keep = True  # the next run of the same job goes on in the slot this one holds
        raise
    except GeneratorExit:
        # Evicted from the worker's cache, not ended: the workflow resumes elsewhere by
        # replay, still holding its slot, and no workflow call may run now.
        keep = True
        raise
    finally:
        if frees and not keep:
            await _slot_step(SlotKeeper.release, request)
