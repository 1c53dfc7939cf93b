"""The fine-tuning job's side effects: the fine-tuning record, the provider calls (upload,
create, poll, cancel) and the resulting model record.

Secrets stay here: provider keys are read from settings inside the activities and never
enter workflow input, history, events or logs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from jobdeck.activities.progress import ProgressReporter
from jobdeck.activities.providers.base import CreateRequest, HostedFineTuner, ProviderJob
from jobdeck.activities.records import JobRecords
from jobdeck.control import utcnow
from jobdeck.domain import EventKind
from jobdeck.storage import open_storage
from jobdeck.store import finetuning as ft_store
from jobdeck.store import jobs as job_store

if TYPE_CHECKING:
    from jobdeck.activities.providers.openai import OpenAIFineTuner
    from jobdeck.runtime import Runtime

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
class FineTuneRef:
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
    ref: FineTuneRef
    dataset_id: str
    validation_dataset_id: str | None = None


@dataclass
class Uploaded:
    training_file: str
    validation_file: str | None = None


@dataclass
class CreateInput:
    ref: FineTuneRef
    base_model: str
    files: Uploaded
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    suffix: str | None = None
    seed: int | None = None


@dataclass
class PollInput:
    ref: FineTuneRef
    last_event_id: str | None = None


@dataclass
class PollResult:
    phase: str
    status: str
    last_event_id: str | None = None
    fine_tuned_model: str | None = None
    error: dict[str, Any] | None = None


@dataclass
class FinishInput:
    ref: FineTuneRef
    base_model: str
    dataset_id: str
    fine_tuned_model: str


def _not_configured(provider: str, setting: str) -> ApplicationError:
    return ApplicationError(
        f"the {provider} provider is not configured: set {setting}",
        type="ProviderNotConfigured",
        non_retryable=True,
    )


class FineTuneActivities:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.records = JobRecords(runtime.db, runtime.settings)
        self.storage = open_storage(runtime.settings)
        self._openai: OpenAIFineTuner | None = None

    def all(self) -> list[Any]:
        return [self.prepare, self.upload, self.create, self.poll, self.cancel, self.finish]

    def hosted(self, provider: str) -> HostedFineTuner:
        settings = self.runtime.settings
        if provider != "openai":
            raise ApplicationError(
                f"{provider} is not a hosted fine-tuning provider",
                type="UnknownProvider",
                non_retryable=True,
            )
        if self._openai is None:
            if settings.openai_api_key is None:
                raise _not_configured("openai", "JOBDECK_OPENAI_API_KEY")
            # Imported on first use: the SDK costs every worker ~20 MB it may never need.
            import openai

            from jobdeck.activities.providers.openai import OpenAIFineTuner

            client = openai.AsyncOpenAI(
                api_key=settings.openai_api_key.get_secret_value(),
                base_url=settings.openai_base_url,
                max_retries=0,  # Temporal retries, with backoff; one layer only
                timeout=settings.provider_timeout_s,
            )
            self.runtime.closers.append(client.close)
            self._openai = OpenAIFineTuner(client)
        return self._openai

    async def _update(self, job_id: str, **values: Any) -> None:
        async def work(session: AsyncSession) -> None:
            await ft_store.update_fine_tuning(
                session, fine_tuning_id=job_id, values=values, now=utcnow()
            )

        await self.runtime.db.transact(work)

    @activity.defn(name="fine-tuning.prepare")
    async def prepare(self, ref: FineTuneRef) -> Prepared:
        """Make sure the fine-tuning record exists (from the job's own input)."""

        async def work(session: AsyncSession) -> None:
            job = await job_store.find_job(session, job_id=ref.job_id)
            if job is None:
                raise ApplicationError("the job row is missing", type="JobMissing")
            await ft_store.ensure_fine_tuning(
                session, values=ft_store.record_values(job), now=utcnow()
            )
            await ft_store.update_fine_tuning(
                session, fine_tuning_id=ref.job_id, values={"phase": "validating"}, now=utcnow()
            )

        await self.runtime.db.transact(work)
        return Prepared(poll_interval_s=self.runtime.settings.fine_tuning_poll_interval_s)

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
            async with self.storage.local_path(dataset.storage_key) as path:
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
        return job.id

    @activity.defn(name="fine-tuning.poll")
    async def poll(self, request: PollInput) -> PollResult:
        """One look at the provider job: status, new events, metrics, progress."""
        ref = request.ref
        provider = self.hosted(ref.provider)
        assert ref.provider_job_id is not None
        job = await provider.get_job(ref.provider_job_id)
        events = await provider.events_since(ref.provider_job_id, request.last_event_id)
        points: list[tuple[int, int | None, dict[str, Any]]] = []
        for event in events:
            data = event.data or {}
            if event.type == "metrics" and isinstance(data.get("step"), int):
                values = {_METRICS[k]: v for k, v in data.items() if k in _METRICS}
                points.append((data["step"], data.get("total_steps"), values))
        checkpoints = await provider.checkpoints(job.id) if job.finished else None
        await self._store_poll(ref.job_id, job, events, points, checkpoints)
        await self._report(job, events, points)
        return PollResult(
            phase=job.phase,
            status=job.status,
            last_event_id=events[-1].id if events else request.last_event_id,
            fine_tuned_model=job.fine_tuned_model,
            error=job.error,
        )

    async def _store_poll(
        self,
        job_id: str,
        job: ProviderJob,
        events: list[Any],
        points: list[tuple[int, int | None, dict[str, Any]]],
        checkpoints: list[dict[str, Any]] | None,
    ) -> None:
        async def work(session: AsyncSession) -> None:
            now = utcnow()
            values: dict[str, Any] = {
                "phase": job.phase,
                "provider_status": job.status,
                "trained_tokens": job.trained_tokens,
            }
            if checkpoints is not None:
                values["checkpoints"] = {"data": checkpoints}
            if job.error:
                values["error"] = job.error
            if job.finished:
                values["finished_at"] = now
            await ft_store.update_fine_tuning(
                session, fine_tuning_id=job_id, values=values, now=now
            )
            await ft_store.add_metrics(session, fine_tuning_id=job_id, points=points, now=now)
            if points:
                await job_store.note_event(
                    session,
                    job_id=job_id,
                    kind=EventKind.METRIC,
                    now=now,
                    data={"metrics": [{"step": s, "totalSteps": t, **v} for s, t, v in points]},
                )
            for event in events:
                if event.type != "metrics":
                    await job_store.note_event(
                        session,
                        job_id=job_id,
                        kind=EventKind.MESSAGE,
                        now=now,
                        data={"message": event.message, "level": event.level, "source": "provider"},
                    )

        await self.runtime.db.transact(work)

    async def _report(self, job: ProviderJob, events: list[Any], points: list[Any]) -> None:
        async with self.records.db.read() as session:
            current = await job_store.find_job(session, job_id=activity.info().workflow_id or "")
        previous = (current.progress or {}) if current else {}
        step, total = previous.get("current", 0), previous.get("total")
        if points:
            step, total = points[-1][0], points[-1][1] or total
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
    async def cancel(self, ref: FineTuneRef) -> None:
        """Cancel at the provider, finding the provider job by its key if the create step
        was cut short; a job that never got created leaves nothing to cancel."""
        provider = self.hosted(ref.provider)
        provider_job_id = ref.provider_job_id
        if provider_job_id is None:
            found = await provider.find_job(key=ref.job_id)
            provider_job_id = found.id if found else None
        if provider_job_id is not None:
            await provider.cancel_job(provider_job_id)
        await self._update(
            ref.job_id, phase="cancelled", finished_at=utcnow(), provider_job_id=provider_job_id
        )

    @activity.defn(name="fine-tuning.finish")
    async def finish(self, request: FinishInput) -> str:
        """Record the model a successful fine-tune produced; returns its id."""

        async def work(session: AsyncSession) -> str:
            now = utcnow()
            model = await ft_store.ensure_model(
                session,
                organization_id=request.ref.organization_id,
                job_id=request.ref.job_id,
                name=request.fine_tuned_model,
                provider=request.ref.provider,
                base_model=request.base_model,
                dataset_id=request.dataset_id,
                details={"providerJobId": request.ref.provider_job_id},
                now=now,
            )
            await ft_store.update_fine_tuning(
                session,
                fine_tuning_id=request.ref.job_id,
                now=now,
                values={
                    "phase": "succeeded",
                    "fine_tuned_model": request.fine_tuned_model,
                    "model_id": model.id,
                    "finished_at": now,
                },
            )
            return model.id

        return await self.runtime.db.transact(work)
