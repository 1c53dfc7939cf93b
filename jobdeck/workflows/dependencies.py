"""A job's wait for the jobs it depends on, in workflow code: the lifecycle runs it first,
before the job's first step, for a job created with `dependsOn` (and only then: a job
without one runs no command more than before).

The job stays `pending` (its progress says "waiting for N jobs: ...") and holds no worker
slot and no concurrency slot: its workflow sleeps until a dependency's ending record
signals it, or its recheck timer fires (a backstop for a lost signal). Each wake runs one
check; a wait longer than the history allows goes on in a fresh run (continue-as-new).

Signals: `jobdeck.dependency-finished` (sent by the ending record of a job it waits for).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from jobdeck.activities.dependencies import DEPENDENCY_FINISHED_SIGNAL, DependencyAnswer
    from jobdeck.activities.records import JobRecords
    from jobdeck.domain import JobSpec, Progress

# Bookkeeping: retried without limit (a database outage must not end the job).
_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)


class _Shown(Protocol):
    progress: Progress


async def wait_for_dependencies(spec: JobSpec, state: _Shown) -> dict[str, Any] | None:
    """Return once every job `spec` depends on has completed (None), or with the error
    of the first one found failed or cancelled (the caller ends the job cancelled)."""
    woken = [False]

    def on_finished() -> None:
        woken[0] = True

    workflow.set_signal_handler(DEPENDENCY_FINISHED_SIGNAL, on_finished)
    while True:
        # Cleared before the check: a signal that comes while it runs is not lost.
        woken[0] = False
        answer: DependencyAnswer = await workflow.execute_local_activity_method(
            JobRecords.check_dependencies,
            spec,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=_RETRY,
        )
        if answer.blocked is not None:
            return answer.blocked
        if answer.ready:
            state.progress = Progress()
            return None
        state.progress = Progress(stage="waiting", message=answer.message)
        if workflow.info().is_continue_as_new_suggested():
            workflow.continue_as_new(spec)
        try:
            await workflow.wait_condition(
                lambda: woken[0], timeout=timedelta(seconds=answer.recheck_s)
            )
        except TimeoutError:
            pass  # the backstop: check again
