"""The steps of a fine-tune with a hosted provider (one that trains on its own machines
and is polled): the fine-tuning record, the provider calls (upload, create, poll, cancel)
and the resulting model record. Any provider with `open_hosted` is driven by these.

Secrets stay here: provider keys are read from settings inside the activities and never
enter workflow input, history, events or logs; whatever a provider answers (its events,
statuses, errors) is redacted of the configured secrets before it is stored or returned
(`RedactingFineTuner`; errors leaving a step are redacted by the worker's interceptor).

A poll makes progress with what it gets: the provider job's status alone decides the
phase; its events and checkpoints are extras whose failure is noted on the job and made
up for later (the next poll, or `finish`), never a reason to fail the poll."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from jobdeck.activities.attempts import describe_error
from jobdeck.activities.base import ActivityGroup
from jobdeck.activities.fine_tuning.provider import (
    CreateRequest,
    HostedFineTuner,
    ProviderEvent,
    ProviderJob,
)
from jobdeck.activities.fine_tuning.providers import PROVIDERS
from jobdeck.activities.progress import ProgressReporter
from jobdeck.clock import utcnow
from jobdeck.domain import EventKind
from jobdeck.redact import Redactor
from jobdeck.store import fine_tuning as ft_store
from jobdeck.store import jobs as job_store

if TYPE_CHECKING:
    from jobdeck.activities.base import JobActions
    from jobdeck.runtime import Runtime

logger = logging.getLogger(__name__)

# What a poll could not fetch this time (made up for later).
EVENTS, CHECKPOINTS = "events", "checkpoints"

# Metric names as the provider sends them, and as the API shows them.
_METRICS = {
    "train_loss": "trainLoss",
    "valid_loss": "validLoss",
    "full_valid_loss": "fullValidLoss",
    "train_mean_token_accuracy": "trainMeanTokenAccuracy",
    "valid_mean_token_accuracy": "validMeanTokenAccuracy",
    "full_valid_mean_token_accuracy": "fullValidMeanTokenAccuracy",
}


@dataclass
class FineTuningRef:
    """Everything a step needs to find its job, record and provider; no secrets."""

    job_id: str
    organization_id: str
    provider: str
    provider_job_id: str | None = None


@dataclass
class Prepared:
    poll_interval_s: float


@dataclass
class UploadInput:
    ref: FineTuningRef
    dataset_id: str
    validation_dataset_id: str | None = None


@dataclass
class Uploaded:
    training_file: str
    validation_file: str | None = None


@dataclass
class CreateInput:
    ref: FineTuningRef
    base_model: str
    files: Uploaded
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    suffix: str | None = None
    seed: int | None = None


@dataclass
class PollInput:
    ref: FineTuningRef
    last_event_id: str | None = None


@dataclass
class PollResult:
    phase: str
    status: str
    last_event_id: str | None = None
    fine_tuned_model: str | None = None
    error: dict[str, Any] | None = None
    # What this poll could not fetch (EVENTS, CHECKPOINTS): `finish` tries again.
    missing: list[str] = field(default_factory=list)


@dataclass
class FinishInput:
    ref: FineTuningRef
    base_model: str
    dataset_id: str
    fine_tuned_model: str
    last_event_id: str | None = None
    missing: list[str] = field(default_factory=list)


@dataclass
class FineTuningEnd:
    """How a fine-tune that did not succeed ended: phase failed or cancelled."""

    job_id: str
    phase: str
    error: dict[str, Any] | None = None


class RedactingFineTuner:
    """A hosted provider's client whose every answer is redacted of the configured
    secrets: the one door provider text comes in by."""

    def __init__(self, inner: HostedFineTuner, redactor: Redactor) -> None:
        self.inner = inner
        self.redactor = redactor

    async def upload_file(self, *, key: str, path: Path) -> str:
        file_id: str = self.redactor.value(await self.inner.upload_file(key=key, path=path))
        return file_id

    async def create_job(self, *, key: str, request: CreateRequest) -> ProviderJob:
        job: ProviderJob = self.redactor.value(
            await self.inner.create_job(key=key, request=request)
        )
        return job

    async def find_job(self, *, key: str) -> ProviderJob | None:
        job: ProviderJob | None = self.redactor.value(await self.inner.find_job(key=key))
        return job

    async def get_job(self, job_id: str) -> ProviderJob:
        job: ProviderJob = self.redactor.value(await self.inner.get_job(job_id))
        return job

    async def events_since(self, job_id: str, last_event_id: str | None) -> list[ProviderEvent]:
        events: list[ProviderEvent] = self.redactor.value(
            await self.inner.events_since(job_id, last_event_id)
        )
        return events

    async def cancel_job(self, job_id: str) -> ProviderJob:
        job: ProviderJob = self.redactor.value(await self.inner.cancel_job(job_id))
        return job

    async def checkpoints(self, job_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.redactor.value(await self.inner.checkpoints(job_id))
        return found


def _points(events: list[ProviderEvent]) -> list[tuple[int, int | None, dict[str, Any]]]:
    """The metric points among a provider's events: (step, total steps, values)."""
    points: list[tuple[int, int | None, dict[str, Any]]] = []
    for event in events:
        data = event.data or {}
        if event.type == "metrics" and isinstance(data.get("step"), int):
            values = {_METRICS[k]: v for k, v in data.items() if k in _METRICS}
            points.append((data["step"], data.get("total_steps"), values))
    return points


class FineTuningActivities(ActivityGroup):
    def __init__(self, runtime: Runtime, jobs: JobActions) -> None:
        super().__init__(runtime, jobs)
        self._clients: dict[str, HostedFineTuner] = {}
        self.redactor = Redactor.of(runtime.settings)

    def hosted(self, name: str) -> HostedFineTuner:
        """The provider's client, opened on first use."""
        if name not in self._clients:
            provider = PROVIDERS.get(name)
            if provider is None or provider.open_hosted is None:
                raise ApplicationError(
                    f"{name} is not a hosted fine-tuning provider",
                    type="UnknownProvider",
                    non_retryable=True,
                )
            self._clients[name] = RedactingFineTuner(
                provider.open_hosted(self.runtime), self.redactor
            )
        return self._clients[name]

    async def _update(self, job_id: str, **values: Any) -> None:
        await self.db.transact(ft_store.updater(job_id, values))

    @activity.defn(name="fine-tuning.prepare")
    async def prepare(self, ref: FineTuningRef) -> Prepared:
        """Make sure the fine-tuning record exists (from the job's own input)."""

        async def work(session: AsyncSession) -> None:
            job = await job_store.find_job(session, job_id=ref.job_id)
            if job is None:
                raise ApplicationError("the job row is missing", type="JobMissing")
            await ft_store.ensure_record(
                session, job=job, provider=ref.provider, phase="validating", now=utcnow()
            )

        await self.db.transact(work)
        return Prepared(poll_interval_s=self.settings.fine_tuning_poll_interval_s)

    @activity.defn(name="fine-tuning.upload")
    async def upload(self, request: UploadInput) -> Uploaded:
        provider = self.hosted(request.ref.provider)
        files: list[str | None] = []
        for role, dataset_id in (
            ("train", request.dataset_id),
            ("valid", request.validation_dataset_id),
        ):
            if dataset_id is None:
                files.append(None)
                continue
            dataset = await self.records.find_dataset(request.ref.organization_id, dataset_id)
            async with self.files.local_path(dataset.storage_key) as path:
                # Keyed by job and role: a retried upload finds the file made before.
                files.append(
                    await provider.upload_file(key=f"{request.ref.job_id}-{role}", path=path)
                )
        uploaded = Uploaded(training_file=files[0] or "", validation_file=files[1])
        await self._update(
            request.ref.job_id,
            phase="uploaded",
            provider_files={
                "training": uploaded.training_file,
                "validation": uploaded.validation_file,
            },
        )
        return uploaded

    @activity.defn(name="fine-tuning.create")
    async def create(self, request: CreateInput) -> str:
        provider = self.hosted(request.ref.provider)
        job = await provider.create_job(
            key=request.ref.job_id,
            request=CreateRequest(
                base_model=request.base_model,
                training_file=request.files.training_file,
                validation_file=request.files.validation_file,
                hyperparameters=request.hyperparameters,
                suffix=request.suffix,
                seed=request.seed,
            ),
        )
        await self._update(
            request.ref.job_id, provider_job_id=job.id, phase=job.phase, provider_status=job.status
        )
        activity.logger.info(
            f"{request.ref.provider} fine-tuning job {job.id} created ({job.status})"
        )
        return job.id

    @activity.defn(name="fine-tuning.poll")
    async def poll(self, request: PollInput) -> PollResult:
        """One look at the provider job. Its status alone decides the phase; new events
        (metrics, messages) and, once it has ended, its checkpoints are fetched too, but a
        failure to fetch them is noted and made up for later, not a failed poll."""
        ref = request.ref
        provider = self.hosted(ref.provider)
        assert ref.provider_job_id is not None
        job = await provider.get_job(ref.provider_job_id)
        missing: list[str] = []
        try:
            events = await provider.events_since(ref.provider_job_id, request.last_event_id)
        except Exception as err:
            events = []
            missing.append(EVENTS)
            await self._note_missing(ref.job_id, EVENTS, err, job)
        checkpoints = None
        if job.finished:
            try:
                checkpoints = await provider.checkpoints(job.id)
            except Exception as err:
                missing.append(CHECKPOINTS)
                await self._note_missing(ref.job_id, CHECKPOINTS, err, job)
        points = _points(events)
        await self._store_poll(ref.job_id, job, events, points, checkpoints)
        await self._report(job, events, points)
        return PollResult(
            phase=job.phase,
            status=job.status,
            last_event_id=events[-1].id if events else request.last_event_id,
            fine_tuned_model=job.fine_tuned_model,
            error=job.error,
            missing=missing,
        )

    async def _note_missing(
        self, job_id: str, what: str, err: BaseException, job: ProviderJob
    ) -> None:
        if job.phase == "succeeded":
            then = "; tried again before the model is recorded"
        elif not job.finished:
            then = "; the next poll tries again"
        else:
            then = ""
        await self._warn(job_id, f"could not fetch the provider's {what} this time", err, then)

    async def _warn(self, job_id: str, text: str, err: BaseException, then: str) -> None:
        """A warning on the job's timeline (and in the log): what could not be done, why
        (redacted), and what happens instead."""
        info = describe_error(err)
        text = self.redactor.text(f"{text} ({info.type}: {info.message}){then}")
        logger.warning(text, extra={"job_id": job_id})
        await self.records.note_message(job_id, text, source="jobdeck", level="warning")

    async def _store_poll(
        self,
        job_id: str,
        job: ProviderJob | None,
        events: list[ProviderEvent],
        points: list[tuple[int, int | None, dict[str, Any]]],
        checkpoints: list[dict[str, Any]] | None,
    ) -> None:
        """Store what a poll learned: the job's status (when given), new events and metric
        points, checkpoints (when fetched)."""

        async def work(session: AsyncSession) -> None:
            now = utcnow()
            values: dict[str, Any] = {}
            if job is not None:
                values = {
                    "phase": job.phase,
                    "provider_status": job.status,
                    "trained_tokens": job.trained_tokens,
                }
                if job.error:
                    values["error"] = job.error
                if job.finished:
                    values["finished_at"] = now
            if checkpoints is not None:
                values["checkpoints"] = {"data": checkpoints}
            if values:
                await ft_store.update_fine_tuning(
                    session, fine_tuning_id=job_id, values=values, now=now
                )
            await ft_store.record_metrics(session, fine_tuning_id=job_id, points=points, now=now)
            for event in events:
                if event.type != "metrics":
                    await job_store.note_event(
                        session,
                        job_id=job_id,
                        kind=EventKind.MESSAGE,
                        now=now,
                        data={"message": event.message, "level": event.level, "source": "provider"},
                    )

        await self.db.transact(work)

    async def _report(
        self,
        job: ProviderJob,
        events: list[ProviderEvent],
        points: list[tuple[int, int | None, dict[str, Any]]],
    ) -> None:
        """The job's progress in training steps. Only a step count carries over from the
        job's progress (not the byte count of the dataset check before): while the
        provider validates and queues there is no step yet, and steps never go back."""
        async with self.records.db.read() as session:
            current = await job_store.find_job(session, job_id=activity.info().workflow_id or "")
        previous = (current.progress or {}) if current else {}
        step, total = 0, None
        if previous.get("unit") == "steps":
            step, total = previous.get("current") or 0, previous.get("total")
        if points:
            step, total = max(step, points[-1][0]), points[-1][1] or total
        messages = [e.message for e in events if e.type != "metrics"] or [e.message for e in events]
        eta = None
        if job.estimated_finish and not job.finished:
            eta = max(0.0, job.estimated_finish - time.time())
        reporter = ProgressReporter(
            self.records, total=total, unit="steps", stage=job.phase, interval_s=0
        )
        await reporter.update(step, message=messages[-1] if messages else None)
        if eta is not None:
            reporter.progress.eta = round(eta, 1)
            await reporter.flush()

    @activity.defn(name="fine-tuning.cancel")
    async def cancel(self, ref: FineTuningRef) -> None:
        """Cancel at the provider, finding the provider job by its key if the create step
        was cut short; a job that never got created leaves nothing to cancel."""
        provider = self.hosted(ref.provider)
        provider_job_id = ref.provider_job_id
        if provider_job_id is None:
            found = await provider.find_job(key=ref.job_id)
            provider_job_id = found.id if found else None
        values: dict[str, Any] = {"provider_job_id": provider_job_id}
        if provider_job_id is not None:
            ended = await provider.cancel_job(provider_job_id)
            # As the provider has it now: cancelled, or how it had ended before the cancel.
            values.update(provider_status=ended.status, trained_tokens=ended.trained_tokens)
            if ended.error:
                values["error"] = ended.error

        async def work(session: AsyncSession) -> None:
            await ft_store.end_fine_tuning(
                session, fine_tuning_id=ref.job_id, phase="cancelled", values=values, now=utcnow()
            )

        await self.db.transact(work)

    @activity.defn(name="fine-tuning.ended")
    async def ended(self, end: FineTuningEnd) -> None:
        """A fine-tune that failed or was cancelled: its record says so, with the error
        (the provider's own, when it gave one) and when it ended."""

        async def work(session: AsyncSession) -> None:
            await ft_store.end_fine_tuning(
                session,
                fine_tuning_id=end.job_id,
                phase=end.phase,
                error=self.redactor.value(end.error),
                now=utcnow(),
            )

        await self.db.transact(work)

    @activity.defn(name="fine-tuning.finish")
    async def finish(self, request: FinishInput) -> str:
        """Record the model a successful fine-tune produced; returns its id. What the last
        poll could not fetch (events, checkpoints) is fetched once more first; if that
        fails too, the job says so and the model is recorded all the same."""
        await self._catch_up(request)

        async def work(session: AsyncSession) -> str:
            model = await ft_store.record_model(
                session,
                fine_tuning_id=request.ref.job_id,
                organization_id=request.ref.organization_id,
                name=request.fine_tuned_model,
                provider=request.ref.provider,
                base_model=request.base_model,
                dataset_id=request.dataset_id,
                details={"providerJobId": request.ref.provider_job_id},
                now=utcnow(),
            )
            return model.id

        model_id: str = await self.db.transact(work)
        return model_id

    async def _catch_up(self, request: FinishInput) -> None:
        ref = request.ref
        if not request.missing or ref.provider_job_id is None:
            return
        provider = self.hosted(ref.provider)
        events: list[ProviderEvent] = []
        checkpoints = None
        if EVENTS in request.missing:
            try:
                events = await provider.events_since(ref.provider_job_id, request.last_event_id)
            except Exception as err:
                await self._note_lost(ref.job_id, EVENTS, err)
        if CHECKPOINTS in request.missing:
            try:
                checkpoints = await provider.checkpoints(ref.provider_job_id)
            except Exception as err:
                await self._note_lost(ref.job_id, CHECKPOINTS, err)
        points = _points(events)
        await self._store_poll(ref.job_id, None, events, points, checkpoints)
        if points:
            reporter = ProgressReporter(self.records, unit="steps", stage="succeeded", interval_s=0)
            await reporter.update(points[-1][0], total=points[-1][1])

    async def _note_lost(self, job_id: str, what: str, err: BaseException) -> None:
        await self._warn(
            job_id,
            f"the provider's {what} could not be fetched",
            err,
            "; the model is recorded without them",
        )
