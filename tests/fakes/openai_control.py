"""What a test holds to steer the fake OpenAI: its clock, its jobs, counters and faults.

Endpoint names follow the SDK: `files.create`, `files.retrieve`, `files.list`, `files.delete`,
`files.content`, `jobs.create`, `jobs.retrieve`, `jobs.list`, `jobs.list_events`,
`jobs.cancel`, `jobs.checkpoints`; `"*"` is all of them.
"""

from __future__ import annotations

import math

from tests.fakes.clock import FakeClock
from tests.fakes.faults import Fault, FaultBook
from tests.fakes.openai_jobs import ErrorForm, Job, JobFailure, Timeline
from tests.fakes.openai_state import OpenAIState, PendingFailure, StoredFile

# What a blocked organization is told on `POST /v1/fine_tuning/jobs`. OpenAI wound down
# self-serve fine-tuning for new users in May 2026 and answers 403 there; the exact wording
# of its message was not found in public sources, so this text is the fake's own.
BLOCKED_MESSAGE = (
    "Fine-tuning is no longer available to new organizations: OpenAI has wound down its "
    "self-serve fine-tuning platform. Existing fine-tuned models can still be used for inference."
)
RATE_LIMIT_MESSAGE = (
    "Rate limit reached for requests in organization {org} on requests per min (RPM): "
    "Limit 3, Used 3, Requested 1. Please try again in {seconds}s. "
    "Visit https://platform.openai.com/account/rate-limits to learn more."
)
SERVER_ERROR_MESSAGE = "The server had an error while processing your request. Sorry about that!"


def error_body(
    message: str, type: str, *, param: str | None = None, code: str | None = None
) -> dict[str, object]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


class FakeControl(FaultBook):
    """Steers one fake OpenAI app; it is `app.state.control`.

    Counters: `calls["jobs.create"]` (every request, faulted or not), `faulted[...]`;
    `len(control.jobs)` is the number of jobs really created.
    """

    def __init__(self, state: OpenAIState) -> None:
        super().__init__()
        self.state = state

    # -- the world --------------------------------------------------------------------

    @property
    def clock(self) -> FakeClock:
        return self.state.clock

    def advance(self, seconds: float) -> float:
        """Move the fake clock forward (shorthand for `control.clock.advance`)."""
        return self.clock.advance(seconds)

    @property
    def timeline(self) -> Timeline:
        """The phase lengths given to jobs created from now on."""
        return self.state.timeline

    @timeline.setter
    def timeline(self, value: Timeline) -> None:
        self.state.timeline = value

    @property
    def error_form(self) -> ErrorForm:
        """How a job that has not failed shows `error`: "nulls" ({"code": null, "message":
        null, "param": null}, the default), "empty" ({}) or "null" (null)."""
        return self.state.error_form

    @error_form.setter
    def error_form(self, value: ErrorForm) -> None:
        self.state.error_form = value

    @property
    def jobs(self) -> list[Job]:
        """Every job created, oldest first (advanced to the clock's now)."""
        return list(reversed(self.state.all_jobs()))

    def job(self, job_id: str) -> Job:
        return self.state.job(job_id)

    def finish(self, job_id: str) -> Job:
        """Advance the clock to the moment `job_id` has run to its end."""
        job = self.state.job(job_id)
        if job.status not in ("succeeded", "failed", "cancelled"):
            self.clock.set(max(self.clock.now(), job.ends_at + 0.001))
        return self.state.job(job_id)

    @property
    def files(self) -> list[StoredFile]:
        return list(self.state.files.values())

    # -- faults -----------------------------------------------------------------------

    def fail(
        self,
        endpoint: str,
        status: int,
        *,
        times: int | None = 1,
        message: str = "scripted failure",
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        every: int | None = None,
        echo_headers: tuple[str, ...] = (),
    ) -> Fault:
        """Answer the next `times` requests to `endpoint` with `status` and an OpenAI error
        (with `every`: every `every`-th request only; `echo_headers`: quoting those request
        headers in the message)."""
        body = error_body(message, type, param=param, code=code)
        return self.add_fault(
            endpoint,
            status,
            body,
            headers=headers,
            times=times,
            every=every,
            echo_headers=echo_headers,
        )

    def fail_every(
        self, endpoint: str, every: int, *, status: int = 500, times: int | None = None
    ) -> Fault:
        """A flaky endpoint: every `every`-th request to it gets `status` (a server error),
        the others go through (until `clear()` unless `times`)."""
        return self.fail(
            endpoint,
            status,
            times=times,
            every=every,
            message=SERVER_ERROR_MESSAGE,
            type="server_error" if status >= 500 else "invalid_request_error",
        )

    def echo_authorization(
        self, endpoint: str = "*", status: int = 400, *, times: int | None = 1
    ) -> Fault:
        """Answer with an error whose message quotes the request's Authorization header,
        API key and all, as a careless proxy or provider does."""
        return self.fail(
            endpoint,
            status,
            times=times,
            message="Could not process the request",
            type="server_error" if status >= 500 else "invalid_request_error",
            echo_headers=("authorization",),
        )

    def rate_limit(
        self, endpoint: str = "*", *, times: int = 1, retry_after: float = 0.05
    ) -> Fault:
        """429 with `retry-after` (whole seconds) and `retry-after-ms` on the next `times`."""
        headers = {
            "retry-after": str(max(1, math.ceil(retry_after))),
            "retry-after-ms": str(int(retry_after * 1000)),
            "x-ratelimit-limit-requests": "3",
            "x-ratelimit-remaining-requests": "0",
        }
        message = RATE_LIMIT_MESSAGE.format(
            org=self.state.organization_id, seconds=round(retry_after, 3)
        )
        return self.fail(
            endpoint,
            429,
            times=times,
            message=message,
            type="requests",
            code="rate_limit_exceeded",
            headers=headers,
        )

    def server_error(
        self,
        endpoint: str = "*",
        *,
        times: int = 1,
        status: int = 500,
        retry_after: float | None = None,
    ) -> Fault:
        """`status` (5xx) with OpenAI's server_error body. Real 5xx carry no retry-after, so
        the SDK backs off ~0.5 s, 1 s...; `retry_after` adds `retry-after-ms` to go faster."""
        headers = {"retry-after-ms": str(int(retry_after * 1000))} if retry_after else None
        return self.fail(
            endpoint,
            status,
            times=times,
            message=SERVER_ERROR_MESSAGE,
            type="server_error",
            headers=headers,
        )

    def block_fine_tuning(
        self, message: str = BLOCKED_MESSAGE, *, times: int | None = None
    ) -> Fault:
        """403 on `jobs.create` (until `clear()` unless `times`), as a blocked org gets it."""
        return self.fail(
            "jobs.create",
            403,
            times=times,
            message=message,
            type="invalid_request_error",
            code="fine_tuning_not_available",
        )

    def fail_next_job(
        self,
        *,
        code: str = "server_error",
        message: str = "The job failed due to an internal error.",
        param: str | None = None,
        at_step: int | None = None,
        times: int | None = 1,
    ) -> JobFailure:
        """The next `times` jobs created fail: at the end of validation, or at `at_step`."""
        failure = JobFailure(code, message, param, at_step)
        self.state.pending_failures.append(PendingFailure(failure, times))
        return failure

    def clear(self) -> None:
        super().clear()
        self.state.pending_failures.clear()
