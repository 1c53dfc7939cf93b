"""A worker interceptor that makes automatic retries visible on the job: every failed try
of a job's step is recorded with its error and the backoff before the next one.

It is also where secrets are kept in: whatever leaves an activity for Temporal (its
error, with the errors it chains to, its result and its heartbeat details) passes through
the settings' redactor (jobdeck/redact.py) first, so a provider that echoes the API key in
an error body cannot put it in the job's error, its events, the workflow history or the
worker's logs."""

from __future__ import annotations

import logging
from typing import Any

from temporalio import activity
from temporalio.exceptions import (
    ApplicationError,
    ApplicationErrorCategory,
    is_cancelled_exception,
)
from temporalio.worker import (
    ActivityInboundInterceptor,
    ActivityOutboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from jobdeck.activities.records import JobRecords
from jobdeck.domain import JobErrorInfo
from jobdeck.redact import Redactor
from jobdeck.store.engine import is_outage

logger = logging.getLogger(__name__)


def next_retry_in(err: BaseException) -> float | None:
    """Seconds until Temporal's next try of the current activity, None if none will come."""
    info = activity.info()
    policy = info.retry_policy
    if isinstance(err, ApplicationError) and err.non_retryable:
        return None
    if policy is None:
        return None
    if policy.maximum_attempts and info.attempt >= policy.maximum_attempts:
        return None
    if type(err).__name__ in (policy.non_retryable_error_types or ()) or (
        isinstance(err, ApplicationError) and err.type in (policy.non_retryable_error_types or ())
    ):
        return None
    delay = policy.initial_interval.total_seconds() * policy.backoff_coefficient ** (
        info.attempt - 1
    )
    if policy.maximum_interval is not None:
        delay = min(delay, policy.maximum_interval.total_seconds())
    return round(delay, 3)


def describe_error(err: BaseException) -> JobErrorInfo:
    if isinstance(err, ApplicationError):
        details = err.details[0] if err.details else None
        return JobErrorInfo(
            type=err.type or "ApplicationError", message=err.message, details=details
        )
    return JobErrorInfo(type=type(err).__name__, message=str(err) or type(err).__name__)


def _quiet_if_expected(err: BaseException) -> BaseException:
    """A non-retryable ApplicationError is the job's own expected failure (bad data, a
    provider's refusal): the job's error and events say it, so the worker logs one line
    instead of a traceback (Temporal logs BENIGN errors at DEBUG)."""
    if (
        not isinstance(err, ApplicationError)
        or not err.non_retryable
        or err.category == ApplicationErrorCategory.BENIGN
    ):
        return err
    info = activity.info()
    logger.info(
        "step failed for good",
        extra={"job_id": info.workflow_id, "step": info.activity_type, "error": err.type},
    )
    quiet = ApplicationError(
        err.message,
        *err.details,
        type=err.type,
        non_retryable=True,
        next_retry_delay=err.next_retry_delay,
        category=ApplicationErrorCategory.BENIGN,
    )
    quiet.__traceback__ = err.__traceback__
    quiet.__cause__ = err.__cause__
    quiet.__suppress_context__ = True
    return quiet


class AttemptTracking(Interceptor):
    def __init__(self, records: JobRecords) -> None:
        self.records = records
        self.redactor = Redactor.of(records.settings)

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _AttemptTrackingInbound(next, self.records, self.redactor)


class _RedactingOutbound(ActivityOutboundInterceptor):
    def __init__(self, next: ActivityOutboundInterceptor, redactor: Redactor) -> None:
        super().__init__(next)
        self.redactor = redactor

    def heartbeat(self, *details: Any) -> None:
        super().heartbeat(*(self.redactor.value(d) for d in details))


class _AttemptTrackingInbound(ActivityInboundInterceptor):
    def __init__(
        self, next: ActivityInboundInterceptor, records: JobRecords, redactor: Redactor
    ) -> None:
        super().__init__(next)
        self.records = records
        self.redactor = redactor

    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        super().init(_RedactingOutbound(outbound, self.redactor) if self.redactor else outbound)

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        bookkeeping = info.activity_type.startswith("jobs.")  # the bookkeeping itself
        if info.attempt > 1 and not bookkeeping:
            try:
                await self.records.note_retry_started(
                    info.workflow_id or "", step=info.activity_type, attempt=info.attempt
                )
            except Exception:
                logger.exception("could not record a retry", extra={"job_id": info.workflow_id})
        try:
            result = await super().execute_activity(input)
        except Exception as err:
            # A database outage is waited out by OutageWait (outside), not counted as a try.
            if is_cancelled_exception(err) or is_outage(err):
                raise
            shown = _quiet_if_expected(self.redactor.exception(err))
            if not bookkeeping:
                await self._note_failed(shown)
            if shown is err:
                raise
        else:
            return self.redactor.value(result)
        # Raised here, outside the handler, so that the original (secret-holding) error is
        # not even its context.
        raise shown

    async def _note_failed(self, err: BaseException) -> None:
        info = activity.info()
        try:
            await self.records.note_attempt_failed(
                info.workflow_id or "",
                step=info.activity_type,
                attempt=info.attempt,
                error=describe_error(err),
                retry_in_s=next_retry_in(err),
            )
        except Exception:
            # The step's own error matters more than our bookkeeping of it.
            logger.exception(
                "could not record a failed attempt", extra={"job_id": info.workflow_id}
            )
