"""A worker interceptor that keeps a database outage from costing a job its tries.

Temporal counts every failed attempt against a step's retry policy, and a conversion gets
three. A step that fails because the database cannot be reached is therefore not failed:
it waits here, heartbeating (so its heartbeat timeout does not fire and a cancel still
reaches it) and backing off up to a minute, and then runs again within the same attempt,
as a retry would. Steps are idempotent, which Temporal's retries already require. When
the step's own time runs out first, the error goes to Temporal as an ordinary failure.

`outlast` is the same wait for one write inside a step, where running the whole step again
would redo work already paid for (the item runner's outcomes after a chunk of llm calls).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ActivityOutboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from jobdeck.clock import utcnow
from jobdeck.store.engine import is_outage

logger = logging.getLogger(__name__)

FIRST_WAIT_S = 1.0
MAX_WAIT_S = 60.0

T = TypeVar("T")


def beat_again() -> None:
    """Heartbeat with the running step's last details, from anywhere in the step (a wait
    for a provider's budget): its heartbeat timeout does not fire, and what a retried try
    would resume from is kept. Outside an activity it does nothing."""
    if activity.in_activity():
        beat = _LAST_BEAT.get()
        activity.heartbeat(*(beat.details if beat else ()))


class OutageWait(Interceptor):
    def __init__(self, *, first_wait_s: float = FIRST_WAIT_S, max_wait_s: float = MAX_WAIT_S):
        self.first_wait_s = first_wait_s
        self.max_wait_s = max_wait_s

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _OutageWaitInbound(next, self)


class _LastBeat(ActivityOutboundInterceptor):
    """Remembers the step's last heartbeat details, so that waiting does not erase them
    (a retried try resumes from them)."""

    details: tuple[Any, ...] = ()

    def heartbeat(self, *details: Any) -> None:
        self.details = details
        super().heartbeat(*details)


_LAST_BEAT: ContextVar[_LastBeat | None] = ContextVar("jobdeck_last_beat", default=None)


class _OutageWaitInbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, owner: OutageWait) -> None:
        super().__init__(next)
        self.owner = owner
        self.beat: _LastBeat | None = None

    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        self.beat = _LastBeat(outbound)
        super().init(self.beat)

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        if self.beat is not None:  # until the step beats, keep what the last try left
            self.beat.details = tuple(activity.info().heartbeat_details)
        _LAST_BEAT.set(self.beat)
        return await _outlasting(
            lambda: super(_OutageWaitInbound, self).execute_activity(input),
            what="the step",
            first_wait_s=self.owner.first_wait_s,
            max_wait_s=self.owner.max_wait_s,
        )


async def outlast(work: Callable[[], Awaitable[T]], *, what: str) -> T:
    """`work()`, run again after a wait while the database cannot be reached, inside the
    running step (heartbeating with its last details, backing off up to a minute), as
    OutageWait runs a whole step again. `work` must be safe to run twice (a transaction
    whose commit was lost with the connection may have committed). When the step's time
    runs out first, the error is raised. Outside an activity, `work()` once."""
    if not activity.in_activity():
        return await work()
    return await _outlasting(work, what=what, first_wait_s=FIRST_WAIT_S, max_wait_s=MAX_WAIT_S)


async def _outlasting(
    work: Callable[[], Awaitable[T]], *, what: str, first_wait_s: float, max_wait_s: float
) -> T:
    wait = first_wait_s
    while True:
        try:
            return await work()
        except Exception as err:
            if not is_outage(err) or not _time_left(wait):
                raise
            info = activity.info()
            logger.warning(
                f"the database is unreachable; {what} waits and runs again",
                extra={
                    "job_id": info.workflow_id,
                    "step": info.activity_type,
                    "wait_s": wait,
                    "error": str(err).splitlines()[0][:300],
                },
            )
            await _wait(wait)
            wait = min(max_wait_s, wait * 2)


async def _wait(seconds: float) -> None:
    """Sleep, heartbeating at least every few seconds with the step's last details."""
    info = activity.info()
    every = 5.0
    if info.heartbeat_timeout:
        every = min(every, info.heartbeat_timeout.total_seconds() / 3)
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while (left := until - loop.time()) > 0:
        beat_again()
        await asyncio.sleep(min(every, left))


def _time_left(wait_s: float) -> bool:
    """Whether the step's start-to-close time leaves room to wait and run again."""
    info = activity.info()
    if info.start_to_close_timeout is None:
        return True
    deadline = info.started_time + info.start_to_close_timeout
    return deadline - utcnow() > timedelta(seconds=wait_s * 2)
