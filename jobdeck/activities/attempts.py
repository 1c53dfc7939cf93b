"""A worker interceptor that makes automatic retries visible on the job: every failed try
of a job's step is recorded with its error and the backoff before the next one."""

from __future__ import annotations

import logging
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, is_cancelled_exception
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from jobdeck.activities.records import JobRecords
from jobdeck.domain import JobErrorInfo

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


class AttemptTracking(Interceptor):
    def __init__(self, records: JobRecords) -> None:
        self.records = records

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _AttemptTrackingInbound(next, self.records)


class _AttemptTrackingInbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, records: JobRecords) -> None:
        super().__init__(next)
        self.records = records

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        if info.activity_type.startswith("jobs."):  # the bookkeeping itself
            return await super().execute_activity(input)
        if info.attempt > 1:
            try:
                await self.records.note_retry_started(
                    info.workflow_id or "", step=info.activity_type, attempt=info.attempt
                )
            except Exception:
                logger.exception("could not record a retry", extra={"job_id": info.workflow_id})
        try:
            return await super().execute_activity(input)
        except Exception as err:
            if is_cancelled_exception(err):
                raise
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
            raise
