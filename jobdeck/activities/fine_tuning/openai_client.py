"""OpenAI fine-tuning through the official SDK.

The SDK's own retries are off: Temporal's retry policy is the one retry layer, so a 429 or
a 5xx fails the activity attempt (retried with backoff) and a 4xx fails the job with
OpenAI's message."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import openai
from openai.types.fine_tuning import FineTuningJob
from temporalio.exceptions import ApplicationError

from jobdeck.activities.fine_tuning.provider import CreateRequest, Phase, ProviderEvent, ProviderJob
from jobdeck.providers.headers import retry_after_s

MAX_EVENTS_PER_POLL = 2000
KEY_METADATA = "jobdeck_job_id"
_PHASES: dict[str, Phase] = {
    "validating_files": "validating",
    "queued": "queued",
    "running": "training",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
}
BLOCKED_HINT = (
    "OpenAI refused to create the fine-tuning job (403). OpenAI is closing self-serve "
    "fine-tuning to new jobs, so an organization without access is refused; use another "
    "provider (ollama, or local training) or ask OpenAI for access. OpenAI said: "
)


def _job(job: FineTuningJob) -> ProviderJob:
    error = job.error.model_dump() if job.error is not None else None
    if error is not None and not any(error.values()):
        error = None  # OpenAI sends an all-null error object on jobs that did not fail
    return ProviderJob(
        id=job.id,
        status=job.status,
        phase=_PHASES.get(job.status, "training"),
        fine_tuned_model=job.fine_tuned_model,
        trained_tokens=job.trained_tokens,
        estimated_finish=job.estimated_finish,
        error=error,
    )


def _retry_after(err: openai.APIStatusError) -> timedelta | None:
    seconds = retry_after_s(err.response.headers)
    return None if seconds is None else timedelta(seconds=seconds)


def provider_error(err: openai.APIError, *, creating: bool = False) -> ApplicationError:
    """What Temporal should do about an OpenAI error: retry with backoff for throttling,
    outages and timeouts (honouring Retry-After), fail the job with OpenAI's own message
    for the rest. Never the SDK's exception itself: it holds the request and response."""
    if isinstance(err, openai.APIConnectionError):  # timeouts included
        return ApplicationError(f"OpenAI did not answer: {err}", type="OpenAIUnavailable")
    if not isinstance(err, openai.APIStatusError):
        return ApplicationError(str(err), type="OpenAIError", non_retryable=True)
    body = err.body if isinstance(err.body, dict) else {}
    message = str(body.get("message") or err.message)
    kind = f"OpenAI{err.status_code}"
    if err.status_code == 429 or err.status_code >= 500:
        return ApplicationError(message, type=kind, next_retry_delay=_retry_after(err))
    if isinstance(err, openai.PermissionDeniedError) and creating:
        message = BLOCKED_HINT + message
    return ApplicationError(
        message,
        {"status": err.status_code, "code": body.get("code")},
        type=kind,
        non_retryable=True,
    )


class OpenAIFineTuner:
    def __init__(self, client: openai.AsyncOpenAI) -> None:
        self.client = client

    async def upload_file(self, *, key: str, path: Path) -> str:
        filename = f"jobdeck-{key}-{path.name}"
        try:
            async for existing in self.client.files.list(purpose="fine-tune"):
                if existing.filename == filename:
                    return existing.id
            with path.open("rb") as handle:
                created = await self.client.files.create(
                    file=(filename, handle), purpose="fine-tune"
                )
        except openai.APIError as err:
            raise provider_error(err) from err
        return created.id

    async def find_job(self, *, key: str) -> ProviderJob | None:
        try:
            async for job in self.client.fine_tuning.jobs.list(metadata={KEY_METADATA: key}):
                return _job(job)
        except openai.APIError as err:
            raise provider_error(err) from err
        return None

    async def create_job(self, *, key: str, request: CreateRequest) -> ProviderJob:
        existing = await self.find_job(key=key)
        if existing is not None:
            return existing
        hyper = {k: v for k, v in request.hyperparameters.items() if v is not None}
        kwargs: dict[str, Any] = {
            "model": request.base_model,
            "training_file": request.training_file,
            "metadata": {KEY_METADATA: key},
            "method": {"type": "supervised", "supervised": {"hyperparameters": hyper}},
        }
        if request.validation_file:
            kwargs["validation_file"] = request.validation_file
        if request.suffix:
            kwargs["suffix"] = request.suffix
        if request.seed is not None:
            kwargs["seed"] = request.seed
        try:
            return _job(await self.client.fine_tuning.jobs.create(**kwargs))
        except openai.APIError as err:
            raise provider_error(err, creating=True) from err

    async def get_job(self, job_id: str) -> ProviderJob:
        try:
            return _job(await self.client.fine_tuning.jobs.retrieve(job_id))
        except openai.APIError as err:
            raise provider_error(err) from err

    async def events_since(self, job_id: str, last_event_id: str | None) -> list[ProviderEvent]:
        newest_first: list[ProviderEvent] = []
        try:
            async for event in self.client.fine_tuning.jobs.list_events(job_id, limit=100):
                if event.id == last_event_id or len(newest_first) >= MAX_EVENTS_PER_POLL:
                    break
                newest_first.append(
                    ProviderEvent(
                        id=event.id,
                        created_at=event.created_at,
                        message=event.message,
                        level=event.level,
                        type=event.type or "message",
                        data=event.data if isinstance(event.data, dict) else None,
                    )
                )
        except openai.APIError as err:
            raise provider_error(err) from err
        return list(reversed(newest_first))

    async def cancel_job(self, job_id: str) -> ProviderJob:
        try:
            return _job(await self.client.fine_tuning.jobs.cancel(job_id))
        except openai.BadRequestError:
            pass  # it has ended already: nothing left running; say how it ended
        except openai.APIError as err:
            raise provider_error(err) from err
        return await self.get_job(job_id)

    async def checkpoints(self, job_id: str) -> list[dict[str, Any]]:
        try:
            page = await self.client.fine_tuning.jobs.checkpoints.list(job_id, limit=100)
        except openai.APIError as err:
            raise provider_error(err) from err
        return [
            {
                "id": c.id,
                "step": c.step_number,
                "model": c.fine_tuned_model_checkpoint,
                "metrics": c.metrics.model_dump(exclude_none=True),
                "createdAt": c.created_at,
            }
            for c in page.data
        ]
