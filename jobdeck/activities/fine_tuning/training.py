"""The `model-training` job's side effects: its fine-tuning record, and the training itself.

`train` is one long activity on the training task queue. It marks the job active when a
training slot picks it up (until then the job is pending), resumes from the run's last
checkpoint when an earlier try was lost, and takes optimizer steps in a worker thread, one
at a time: between steps it heartbeats (which is how a cancel arrives), reports progress,
records the loss curve and writes checkpoints. A cancel lets the running step finish and
keeps the checkpoints. torch is imported only here, inside the activity. The `local`
provider is declared here."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from jobdeck.activities.base import ActivityGroup
from jobdeck.activities.fine_tuning.provider import FineTuningProvider, model_name
from jobdeck.activities.progress import ProgressReporter
from jobdeck.clock import utcnow
from jobdeck.config import Settings
from jobdeck.domain import JobSpec
from jobdeck.errors import Unavailable
from jobdeck.inputs import ModelTrainingData
from jobdeck.store import fine_tuning as ft_store
from jobdeck.store import jobs as job_store
from jobdeck.temporal import activity_pollers, bounded
from jobdeck.training import available

if TYPE_CHECKING:
    from jobdeck.runtime import Runtime
    from jobdeck.training.loop import LoraTrainer, StepResult

T = TypeVar("T")
# How long the run's thread trains before the activity reports: well under the heartbeat
# interval, so progress and cancel stay as prompt as with a report after every step.
STEP_BATCH_S = 0.5
STARTED_SIGNAL = "training_started"
NAME = "local"


@dataclass
class TrainingPlan:
    task_queue: str
    heartbeat_timeout_s: float


@dataclass
class TrainingEnd:
    job_id: str
    phase: str  # failed or cancelled
    error: dict[str, Any] | None = None


def resolve_base_model(name: str, settings: Settings) -> str:
    """A folder inside the base-models directory, or else a model id for the local
    Hugging Face cache. A path outside that directory is refused."""
    root = settings.base_models_root.resolve()
    given = Path(name)
    path = (given if given.is_absolute() else root / given).resolve()
    if given.is_absolute() and not path.is_relative_to(root):
        raise ApplicationError(
            f"base model path {name} is outside the base-models directory ({root})",
            type="BaseModelNotAllowed",
            non_retryable=True,
        )
    if path.is_dir():
        return str(path)
    if given.is_absolute():
        raise ApplicationError(
            f"base model folder {name} does not exist", type="BaseModelNotFound", non_retryable=True
        )
    return name


def _require_extra() -> None:
    missing = available.missing_modules()
    if missing:
        raise ApplicationError(
            f"this worker cannot train: {', '.join(missing)} missing ({available.INSTALL_HINT})",
            type="TrainingNotInstalled",
            non_retryable=True,
        )


class TrainingActivities(ActivityGroup):
    """`prepare` and `ended` run on the job's own task queue; `train` only on a training
    worker, on the training task queue."""

    def run_dir(self, job_id: str) -> Path:
        return self.settings.training_root / job_id

    async def _transact(self, work: Callable[[AsyncSession], Any]) -> Any:
        return await self.db.transact(work)

    async def _update(self, job_id: str, **values: Any) -> None:
        await self._transact(ft_store.updater(job_id, values))

    @activity.defn(name="training.prepare")
    async def prepare(self, spec: JobSpec) -> TrainingPlan:
        """The job row and its fine-tuning record exist; the job waits for a slot."""

        async def work(session: AsyncSession) -> None:
            now = utcnow()
            await job_store.insert_job(session, spec=spec, now=now)
            job = await job_store.find_job(session, job_id=spec.job_id)
            assert job is not None
            await ft_store.ensure_record(session, job=job, provider=NAME, phase="queued", now=now)

        await self._transact(work)
        return TrainingPlan(
            task_queue=self.settings.training_queue,
            heartbeat_timeout_s=self.settings.training_heartbeat_timeout_s,
        )

    @activity.defn(name="training.ended")
    async def ended(self, end: TrainingEnd) -> None:
        await self._update(end.job_id, phase=end.phase, error=end.error, finished_at=utcnow())

    @activity.defn(name="training.train")
    async def train(self, spec: JobSpec) -> dict[str, Any]:
        _require_extra()
        await self.records.start(spec)
        await self.runtime.temporal.get_workflow_handle(spec.job_id).signal(STARTED_SIGNAL)
        options = ModelTrainingData.model_validate(spec.data)
        adapter = self.settings.adapter_dir(spec.job_id)
        async with AsyncExitStack() as stack:
            paths = [
                await stack.enter_async_context(self._dataset_path(spec, dataset_id))
                for dataset_id in (options.dataset_id, options.validation_dataset_id)
                if dataset_id
            ]
            await self._update(spec.job_id, phase="preparing")
            run = _Run(self, spec, options)
            stack.callback(run.close)
            trainer = await run.in_thread(run.build, paths)
            if (adapter / "done").is_file():
                await self._message(spec.job_id, "the adapter was saved by an earlier try")
                summary = run.summary_of_done(trainer, adapter)
            else:
                summary = await run.train(trainer, adapter)
        model_id = await self._finish(spec, options, trainer, summary)
        return {**summary, "modelId": model_id}

    @asynccontextmanager
    async def _dataset_path(self, spec: JobSpec, dataset_id: str) -> AsyncIterator[Path]:
        dataset = await self.records.find_dataset(spec.organization_id, dataset_id)
        async with self.files.local_path(dataset.storage_key) as path:
            yield path

    async def _message(self, job_id: str, text: str) -> None:
        await self.records.note_message(job_id, text, source="training")

    async def _metrics(self, job_id: str, points: list[tuple[int, int, dict[str, Any]]]) -> None:
        """Loss points for the curve: in the fine-tuning record and as a metric event."""

        async def work(session: AsyncSession) -> None:
            await ft_store.record_metrics(
                session, fine_tuning_id=job_id, points=points, now=utcnow()
            )

        await self._transact(work)

    async def _finish(
        self,
        spec: JobSpec,
        options: ModelTrainingData,
        trainer: LoraTrainer,
        summary: dict[str, Any],
    ) -> str:
        from jobdeck.training.loop import adapter_files

        adapter = self.settings.adapter_dir(spec.job_id)
        files = {k: v for k, v in adapter_files(adapter).items() if k != "done"}

        async def work(session: AsyncSession) -> str:
            model = await ft_store.record_model(
                session,
                fine_tuning_id=spec.job_id,
                organization_id=spec.organization_id,
                name=model_name(
                    options.base_model, options.suffix, spec.job_id, default_suffix="lora"
                ),
                provider=NAME,
                base_model=options.base_model,
                dataset_id=options.dataset_id,
                details={
                    "kind": "lora-adapter",
                    "adapterFiles": files,
                    "lora": options.lora.model_dump(mode="json", by_alias=True),
                    "steps": summary["steps"],
                    "trainLoss": summary.get("trainLoss"),
                    "validLoss": summary.get("validLoss"),
                    "ollamaBaseModel": options.ollama_base_model,
                    "device": str(trainer.device),
                },
                now=utcnow(),
                values={"trained_tokens": summary.get("trainedTokens")},
            )
            return model.id

        model_id: str = await self._transact(work)
        return model_id


class _Run:
    """One try of one training job: what it loaded, and the loop with its reports."""

    def __init__(self, owner: TrainingActivities, spec: JobSpec, options: ModelTrainingData):
        self.owner = owner
        self.spec = spec
        self.options = options
        self.beat: dict[str, Any] = {"step": 0, "checkpoint": None}
        # Every torch call of the run on one thread: PyTorch's CPU thread pool (OpenMP)
        # belongs to the thread that calls it, so steps hopping between the threads of a
        # shared pool would each wake a pool of their own and fight over the cores.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="training")

        # Set on cancel: the steps running on the run's thread stop after the current one.
        self.stop = threading.Event()

    def close(self) -> None:
        self.executor.shutdown(wait=True)

    def boundary(self, trainer: LoraTrainer) -> int:
        """The next step that is logged or checkpointed (or the last)."""
        every = (self.options.log_every, self.options.checkpoint_every)
        return min(trainer.total_steps, *((trainer.step // n + 1) * n for n in every))

    def steps(self, trainer: LoraTrainer, until: int) -> list[StepResult]:
        """Optimizer steps, back to back on the run's thread, up to step `until`, for at
        most STEP_BATCH_S, or until a cancel. Going back to the event loop after every step
        cost ~9% of the training rate (bench/training.py); between batches the activity
        heartbeats, reports and checkpoints."""
        done: list[StepResult] = []
        deadline = time.monotonic() + STEP_BATCH_S
        while trainer.step < until and not self.stop.is_set():
            done.append(trainer.train_step())
            if time.monotonic() >= deadline:
                break
        return done

    async def in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` on the run's thread, heartbeating while it runs. A cancel waits for it
        to end (a step is never cut in half), then goes on."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.executor, fn, *args)
        try:
            while not future.done():
                await asyncio.wait({future}, timeout=1.0)
                if not future.done():
                    activity.heartbeat(self.beat)
        except asyncio.CancelledError:
            self.stop.set()
            await asyncio.wait({future})
            raise
        return future.result()

    def build(self, paths: list[Path]) -> LoraTrainer:
        from jobdeck.training.data import TrainingDataError, read_conversations
        from jobdeck.training.loop import (
            LoraSettings,
            LoraTrainer,
            TrainingConfig,
            TrainingSetupError,
        )

        options, settings = self.options, self.owner.settings
        base_model = resolve_base_model(options.base_model, settings)
        try:
            train = read_conversations(paths[0], label="dataset")
            valid = read_conversations(paths[1], label="validation dataset") if paths[1:] else None
            lora = options.lora
            targets: list[str] | str | None = lora.target_modules
            if targets == ["all-linear"]:
                targets = "all-linear"
            return LoraTrainer(
                TrainingConfig(
                    base_model=base_model,
                    lora=LoraSettings(lora.rank, lora.alpha, lora.dropout, targets),
                    epochs=options.epochs,
                    learning_rate=options.learning_rate,
                    batch_size=options.batch_size,
                    max_seq_length=options.max_seq_length,
                    seed=options.seed,
                    device=options.device,
                    warmup_steps=options.warmup_steps,
                ),
                train,
                valid,
            )
        except TrainingDataError as err:
            raise ApplicationError(
                str(err), type="InvalidTrainingData", non_retryable=True
            ) from None
        except TrainingSetupError as err:
            hint = f" (base models are read from {settings.base_models_root.resolve()})"
            raise ApplicationError(
                str(err) + hint, type="TrainingSetupError", non_retryable=True
            ) from None

    def summary_of_done(self, trainer: LoraTrainer, adapter: Path) -> dict[str, Any]:
        return {
            "steps": trainer.total_steps,
            "totalSteps": trainer.total_steps,
            "adapterPath": str(adapter),
            "examples": len(trainer.train_examples),
            "droppedExamples": trainer.dropped,
        }

    async def train(self, trainer: LoraTrainer, adapter: Path) -> dict[str, Any]:
        from jobdeck.training.checkpoints import CheckpointDir

        owner, job_id, options = self.owner, self.spec.job_id, self.options
        checkpoints = CheckpointDir(
            owner.run_dir(job_id) / "checkpoints", keep=owner.settings.training_checkpoints_kept
        )
        checkpoints.remove_partials()
        resumed_from = 0
        latest = checkpoints.latest()
        if latest is not None:
            resumed_from = await self.in_thread(trainer.restore, latest[1])
            self.beat = {"step": resumed_from, "checkpoint": str(latest[1])}
            await owner._message(job_id, f"resumed from the checkpoint of step {resumed_from}")
        trainable, total = trainer.parameter_counts()
        await owner._update(job_id, phase="training", provider_status="training")
        await owner._message(
            job_id,
            f"training {trainable:,} of {total:,} parameters on {trainer.device}: "
            f"{len(trainer.train_examples)} examples, {trainer.total_steps} steps",
        )
        total_steps = trainer.total_steps
        losses: list[float] = []
        tokens = 0
        last_train: float | None = None
        last_valid: float | None = None
        started = time.perf_counter()
        async with ProgressReporter(
            owner.records, total=total_steps, unit="steps", stage="training"
        ) as progress:
            await progress.update(trainer.step, details=self.beat)
            while not trainer.finished:
                batch = await self.in_thread(self.steps, trainer, self.boundary(trainer))
                for step in batch:
                    tokens += step.tokens
                    losses.append(step.loss)
                if not batch:
                    continue
                step, done = batch[-1], trainer.finished
                if step.step % options.log_every == 0 or done:
                    last_train = sum(losses) / len(losses)
                    losses.clear()
                    values: dict[str, Any] = {"trainLoss": round(last_train, 6)}
                    if step.step % options.checkpoint_every == 0 or done:
                        last_valid = await self.in_thread(trainer.evaluate)
                        if last_valid is not None:
                            values["validLoss"] = round(last_valid, 6)
                    await owner._metrics(job_id, [(step.step, total_steps, values)])
                if step.step % options.checkpoint_every == 0 and not done:
                    path = await self.in_thread(
                        checkpoints.write, step.step, trainer.save_checkpoint
                    )
                    self.beat = {"step": step.step, "checkpoint": str(path)}
                    root = owner.settings.training_root
                    kept = [
                        {"step": n, "path": str(p.relative_to(root))} for n, p in checkpoints.all()
                    ]
                    await owner._update(job_id, checkpoints={"data": kept})
                self.beat = {**self.beat, "step": step.step}
                await progress.update(step.step, message=f"loss {step.loss:.4f}", details=self.beat)
            await progress.update(trainer.step, stage="saving", message="saving the adapter")
            await self.in_thread(_save_final, trainer, adapter)
            await progress.update(trainer.step, stage="trained", message="adapter saved")
        seconds = time.perf_counter() - started
        return {
            **self.summary_of_done(trainer, adapter),
            "resumedFromStep": resumed_from,
            "stepsThisTry": trainer.step - resumed_from,
            "trainLoss": last_train,
            "validLoss": last_valid,
            "trainedTokens": tokens,
            "tokensPerSecond": round(tokens / seconds, 1) if seconds > 0 else None,
        }


def _save_final(trainer: LoraTrainer, adapter: Path) -> None:
    """The adapter folder appears whole, with a `done` marker, or not at all."""
    partial = adapter.with_name(adapter.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    trainer.save_adapter(partial)
    (partial / "done").write_text(str(trainer.step))
    shutil.rmtree(adapter, ignore_errors=True)
    partial.rename(adapter)


async def training_unavailable(runtime: Runtime) -> str | None:
    """A training job needs a worker that polls the training queue; on a one-machine
    setup that is this machine, with the training extra installed."""
    settings = runtime.settings
    queue = settings.training_queue
    try:
        # Asked while serving a request: bounded by the configured Temporal call timeout,
        # as every other request-time Temporal call is.
        async with bounded(settings) as rpc_timeout:
            pollers = await activity_pollers(
                runtime.temporal, settings.temporal_namespace, queue, rpc_timeout=rpc_timeout
            )
    except (RPCError, RuntimeError) as err:
        # A slow or unreachable Temporal cannot say whether training would start: the
        # caller gets 503 (try again), never a 500 or a wrong "not installed".
        raise Unavailable(
            "the job engine (Temporal) did not answer whether a worker serves the training "
            "queue; try again"
        ) from err
    if pollers:
        return None
    missing = available.missing_modules()
    if not missing:
        return None  # a worker on this machine can train; the job waits until one runs
    return (
        f"local training is not installed: no worker serves the training queue {queue!r} "
        f"and this server lacks {', '.join(missing)}. Install the training extra "
        f"({available.INSTALL_HINT}) on a worker machine and run `jobdeck worker` there"
    )


async def _status(runtime: Runtime) -> tuple[list[str], str | None]:
    """Folders of the base-models directory that hold a transformers model."""
    root = runtime.settings.base_models_root
    models = (
        sorted(p.name for p in root.iterdir() if (p / "config.json").is_file())
        if root.is_dir()
        else []
    )
    return models, await training_unavailable(runtime)


PROVIDER = FineTuningProvider(
    name=NAME,
    label="Local LoRA",
    description=(
        "LoRA fine-tuning on a training worker's own CPU or GPU (PyTorch, transformers, "
        "peft), with checkpoints; the adapter can be published to Ollama."
    ),
    job_type="model-training",
    options=("hyperparameters", "training"),
    unavailable=training_unavailable,
    status=_status,
    no_models_hint="No base models: add a model folder to the base-models directory",
    activities=(TrainingActivities.prepare, TrainingActivities.ended, TrainingActivities.train),
    job_data=lambda request: request.as_training(),
)
