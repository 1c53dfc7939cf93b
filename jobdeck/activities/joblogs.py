"""Job logs: the lines a job's own code logs through `temporalio.activity.logger` are
kept per job (jobdeck/store/logs.py), for the API, the CLI and the dashboard.

One `JobLogHandler` sits on the `temporalio.activity` logger for the whole process; the
`JobLogCapture` interceptor each worker carries marks the activities it runs with its
sink, so a line goes to the database of the worker that ran the step. Temporal's own
lines (logged from inside temporalio, "Completing activity as failed" among them) are
never captured. Capturing only appends to a bounded in-memory queue: a background task
stores batches (every FLUSH_EVERY_S or BATCH lines), redacted, and a full queue drops
lines (counted) rather than slow the job down."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
from collections import deque
from collections.abc import Mapping
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

import temporalio
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from jobdeck.redact import Redactor
from jobdeck.store import logs as log_store
from jobdeck.store.engine import Database

logger = logging.getLogger(__name__)

ACTIVITY_LOGGER = "temporalio.activity"
FLUSH_EVERY_S = 0.5
BATCH = 200
MAX_QUEUED = 10_000
_TEMPORALIO_DIR = os.path.dirname(temporalio.__file__) + os.sep
_SINK: contextvars.ContextVar[JobLogSink | None] = contextvars.ContextVar(
    "jobdeck_job_log_sink", default=None
)


class JobLogSink:
    """One worker's queue of captured lines and the task that stores them."""

    def __init__(
        self,
        db: Database,
        redactor: Redactor,
        *,
        batch: int = BATCH,
        every_s: float = FLUSH_EVERY_S,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        self.db = db
        self.redactor = redactor
        self.batch = batch
        self.every_s = every_s
        self.max_queued = max_queued
        self.queue: deque[log_store.LogLine] = deque()
        self.dropped = 0
        self.closed = False
        self._reported_dropped = 0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    def offer(self, line: log_store.LogLine) -> None:
        """Queue a line (from any thread); never blocks."""
        if self.closed or len(self.queue) >= self.max_queued:
            self.dropped += 1
            return
        self.queue.append(line)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._kick)
            return
        self._kick()

    def _kick(self) -> None:
        if self._task is None or self._task.done():
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            # A fresh context: the flusher is no part of the activity that logged first.
            self._task = self._loop.create_task(
                self._flush_while_queued(), name="jobdeck-job-logs", context=contextvars.Context()
            )
        elif len(self.queue) >= self.batch:
            self._wake.set()

    async def _flush_while_queued(self) -> None:
        while self.queue:
            if len(self.queue) < self.batch:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.every_s)
            self._wake.clear()
            await self.flush()

    async def aclose(self) -> None:
        """Store what is queued and stop: the worker's runtime closes it (before its
        database), once the workers have stopped."""
        self.closed = True
        task = self._task
        if task is not None and not task.done():
            self._wake.set()
            with suppress(Exception):
                await task
        while self.queue:
            await self.flush()

    async def flush(self) -> None:
        """Store up to one batch of queued lines now."""
        lines = [self.queue.popleft() for _ in range(min(self.batch, len(self.queue)))]
        if self.dropped != self._reported_dropped:
            logger.warning("job log queue full: lines dropped", extra={"dropped": self.dropped})
            self._reported_dropped = self.dropped
        if not lines:
            return
        redact = self.redactor.text if self.redactor else None
        if redact is not None:
            lines = [
                log_store.LogLine(
                    job_id=line.job_id,
                    time=line.time,
                    level=line.level,
                    message=redact(line.message),
                    step=line.step,
                    attempt=line.attempt,
                )
                for line in lines
            ]
        try:
            async with self.db.write() as session:
                await log_store.append_lines(session, lines)
        except Exception:
            self.dropped += len(lines)
            self._reported_dropped = self.dropped
            logger.warning("storing job log lines failed", exc_info=True)


class JobLogHandler(logging.Handler):
    """Passes a job's own activity.logger lines to the sink of the worker running it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.line_of(record)
            sink = _SINK.get()
            if line is not None and sink is not None:
                sink.offer(line)
        except Exception:
            self.handleError(record)

    def line_of(self, record: logging.LogRecord) -> log_store.LogLine | None:
        """The job's line a record is, or None: not from a job's activity, or Temporal's own."""
        details: Any = getattr(record, "temporal_activity", None)
        if record.name != ACTIVITY_LOGGER or not isinstance(details, Mapping):
            return None
        job_id = details.get("workflow_id")
        if not job_id:
            return None
        # Temporal's own lines: logged from inside the SDK ("Completing activity as failed").
        if record.pathname.startswith(_TEMPORALIO_DIR) or hasattr(
            record, "__temporal_error_identifier"
        ):
            return None
        message = record.getMessage().removesuffix(f" ({details})")
        if record.exc_info:
            message += "\n" + self._formatter.formatException(record.exc_info)
        attempt = details.get("attempt")
        return log_store.LogLine(
            job_id=str(job_id),
            time=datetime.fromtimestamp(record.created, UTC),
            level=record.levelname.lower(),
            message=log_store.cap_message(message),
            step=details.get("activity_type"),
            attempt=attempt if isinstance(attempt, int) else None,
        )


_handler: JobLogHandler | None = None


def install_handler() -> JobLogHandler:
    """Put the one JobLogHandler on the activity logger (once per process), and let its
    info lines through."""
    global _handler
    if _handler is None:
        _handler = JobLogHandler()
        activity_logger = logging.getLogger(ACTIVITY_LOGGER)
        activity_logger.addHandler(_handler)
        if activity_logger.getEffectiveLevel() > logging.INFO:
            activity_logger.setLevel(logging.INFO)
    return _handler


class JobLogCapture(Interceptor):
    """Marks the activities a worker runs with its sink (see JobLogHandler)."""

    def __init__(self, sink: JobLogSink) -> None:
        self.sink = sink
        install_handler()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _CaptureInbound(next, self.sink)


class _CaptureInbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, sink: JobLogSink) -> None:
        super().__init__(next)
        self.sink = sink

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        token = _SINK.set(self.sink)
        try:
            return await self.next.execute_activity(input)
        finally:
            _SINK.reset(token)
