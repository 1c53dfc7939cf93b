"""The one helper job code calls to report progress from inside an activity.

Each report heartbeats (which is also how a cancel request reaches the activity); the
job row and its event are written at most every `interval_s`, and always for the last
report, so a tight loop cannot flood the database and the final state always lands.
Messages (often a provider's own words) are redacted of the configured secrets.
"""

from __future__ import annotations

import time
from dataclasses import replace
from types import TracebackType

from temporalio import activity

from jobdeck.activities.records import JobRecords
from jobdeck.domain import Progress, with_rate
from jobdeck.redact import Redactor


class ProgressReporter:
    def __init__(
        self,
        records: JobRecords,
        *,
        job_id: str | None = None,
        total: float | None = None,
        unit: str = "steps",
        stage: str | None = None,
        interval_s: float | None = None,
    ) -> None:
        self.records = records
        # A job's activities run in its workflow, whose id is the job id.
        job_id = job_id or activity.info().workflow_id
        if not job_id:
            raise ValueError("ProgressReporter needs a job id outside a job's workflow")
        self.job_id = job_id
        self.interval_s = records.settings.progress_interval_s if interval_s is None else interval_s
        self.progress = Progress(current=0, total=total, unit=unit, stage=stage)
        self.redactor = Redactor.of(records.settings)
        self._written_at: float | None = None
        # The last report written and its wall-clock time: the next one's rate comes from
        # it here, so writing a report needs no read of the row.
        self._last: tuple[Progress, float] | None = None
        self._dirty = False

    async def update(
        self,
        current: float,
        *,
        total: float | None = None,
        stage: str | None = None,
        message: str | None = None,
        details: dict[str, object] | None = None,
    ) -> None:
        """`details` ride along in the heartbeat only (a retry reads them back)."""
        stage_changed = stage is not None and stage != self.progress.stage
        if message is not None:
            message = self.redactor.text(message)
        self.progress = Progress(
            current=current,
            total=self.progress.total if total is None else total,
            unit=self.progress.unit,
            stage=stage or self.progress.stage,
            message=message if message is not None else self.progress.message,
            rate=None,
        )
        activity.heartbeat(self.progress.to_json(), *([details] if details else []))
        self._dirty = True
        now = time.monotonic()
        due = self._written_at is None or now - self._written_at >= self.interval_s
        if due or stage_changed:
            await self.flush()

    async def flush(self) -> None:
        if not self._dirty:
            return
        now = time.time()
        if self._last is None:  # the first of this attempt: the row holds the one before
            await self.records.save_progress(self.job_id, self.progress)
        else:
            before, at = self._last
            derived = with_rate(replace(self.progress), before, now - at)
            await self.records.save_progress(self.job_id, derived, derived=True)
        self._last = (self.progress, now)
        self._written_at = time.monotonic()
        self._dirty = False

    async def __aenter__(self) -> ProgressReporter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.flush()
