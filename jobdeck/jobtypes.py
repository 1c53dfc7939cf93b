"""The registry of job types: a type is a workflow class plus the model of its `data`.

Built-in types register here; more can be added by listing modules in
JOBDECK_JOB_TYPE_MODULES, each exposing `JOB_TYPES: list[JobType]`.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from jobdeck.errors import InvalidInput

if TYPE_CHECKING:
    from jobdeck.runtime import Runtime

ActivityFactory = Callable[["Runtime"], Sequence[Callable[..., Any]]]


@dataclass(frozen=True)
class QueueActivities:
    """Activities a job type runs on a task queue of their own, with its own concurrency
    (e.g. training: one per GPU)."""

    task_queue: str
    activities: Sequence[Callable[..., Any]]
    max_concurrent: int | None = None


@dataclass(frozen=True)
class JobType:
    name: str
    description: str
    workflow: type[Any]
    input_model: type[BaseModel]
    # Activities this type's workflow calls, built once per worker from shared clients.
    activities: ActivityFactory | None = None
    task_queue: str | None = None  # None: the default task queue
    # Activities on other task queues; a factory may return none where this worker
    # should not poll them.
    queued_activities: Callable[[Runtime], Sequence[QueueActivities]] | None = None
    # Why this deployment cannot run the type now (None: it can); asked before a job starts.
    unavailable: Callable[[Runtime], Awaitable[str | None]] | None = None

    def validate(self, data: Any) -> dict[str, Any]:
        """The job's data checked against its model, normalised for storage."""
        try:
            model = self.input_model.model_validate(data if data is not None else {})
        except ValidationError as err:
            problems = "; ".join(
                f"data.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                if e["loc"]
                else f"data: {e['msg']}"
                for e in err.errors()
            )
            raise InvalidInput(f"invalid data for a {self.name} job: {problems}") from err
        return model.model_dump(mode="json", by_alias=True)


class JobTypeRegistry:
    def __init__(self, types: Iterable[JobType] = ()) -> None:
        self._types: dict[str, JobType] = {}
        for job_type in types:
            self.register(job_type)

    def register(self, job_type: JobType) -> None:
        if job_type.name in self._types:
            raise ValueError(f"job type {job_type.name!r} is registered twice")
        self._types[job_type.name] = job_type

    def get(self, name: str) -> JobType:
        try:
            return self._types[name]
        except KeyError:
            known = ", ".join(sorted(self._types))
            raise InvalidInput(f"unknown job type {name!r}; known types: {known}") from None

    def all(self) -> list[JobType]:
        return list(self._types.values())


def builtin_types() -> list[JobType]:
    from jobdeck.activities.bulk import BulkActivities
    from jobdeck.activities.datasets import DatasetActivities
    from jobdeck.activities.fine_tuning import FineTuneActivities
    from jobdeck.activities.ollama_build import OllamaActivities
    from jobdeck.activities.training import TrainingActivities
    from jobdeck.inputs import (
        BulkOperationData,
        DataConversionData,
        DatasetValidationData,
        FineTuningData,
        ModelPublishData,
        ModelTrainingData,
    )
    from jobdeck.workflows.bulk import BulkOperationWorkflow
    from jobdeck.workflows.datasets import DataConversionWorkflow, DatasetValidationWorkflow
    from jobdeck.workflows.fine_tuning import FineTuningWorkflow
    from jobdeck.workflows.publish import ModelPublishWorkflow
    from jobdeck.workflows.training import ModelTrainingWorkflow

    return [
        JobType(
            name="bulk-operation",
            description="Cancel or retry every job of the organization that matches a filter",
            workflow=BulkOperationWorkflow,
            input_model=BulkOperationData,
            activities=lambda runtime: BulkActivities(runtime).all(),
        ),
        JobType(
            name="data-conversion",
            description="Convert a dataset (CSV, TSV, JSON, JSONL, Parquet, XLSX) to JSONL, "
            "CSV, Parquet or OpenAI chat fine-tuning JSONL, as a new dataset",
            workflow=DataConversionWorkflow,
            input_model=DataConversionData,
            # Both dataset types share one activity instance (and its storage).
            activities=lambda runtime: DatasetActivities(runtime).all(),
        ),
        JobType(
            name="dataset-validation",
            description="Check a chat JSONL dataset against OpenAI's fine-tuning rules, with "
            "token counts and cost; the report is stored with the dataset",
            workflow=DatasetValidationWorkflow,
            input_model=DatasetValidationData,
        ),
        JobType(
            name="fine-tuning",
            description="Fine-tune a model on a chat dataset with a provider (OpenAI, or "
            "Ollama's customization), polled until done, leaving a model record",
            workflow=FineTuningWorkflow,
            input_model=FineTuningData,
            activities=lambda runtime: [
                *FineTuneActivities(runtime).all(),
                *OllamaActivities(runtime).all(),
            ],
        ),
        JobType(
            name="model-training",
            description="Fine-tune a causal language model with LoRA on a chat dataset, on a "
            "training worker's CPU or GPU, with checkpoints; leaves an adapter and a model",
            workflow=ModelTrainingWorkflow,
            input_model=ModelTrainingData,
            activities=lambda runtime: TrainingActivities(runtime).all(),
            queued_activities=_training_queue,
            unavailable=training_unavailable,
        ),
        JobType(
            name="model-publish",
            description="Publish a trained LoRA adapter to Ollama as a new model on its base",
            workflow=ModelPublishWorkflow,
            input_model=ModelPublishData,
            activities=lambda runtime: OllamaActivities(runtime).publishing(),
        ),
    ]


async def training_unavailable(runtime: Runtime) -> str | None:
    """A training job needs a worker that polls the training queue; on a one-machine
    setup that is this machine, with the training extra installed."""
    from jobdeck.temporal import activity_pollers
    from jobdeck.training import available

    settings = runtime.settings
    queue = settings.training_queue
    if await activity_pollers(runtime.temporal, settings.temporal_namespace, queue):
        return None
    missing = available.missing_modules()
    if not missing:
        return None  # a worker on this machine can train; the job waits until one runs
    return (
        f"local training is not installed: no worker serves the training queue {queue!r} "
        f"and this server lacks {', '.join(missing)}. Install the training extra "
        f"({available.INSTALL_HINT}) on a worker machine and run `jobdeck worker` there"
    )


def _training_queue(runtime: Runtime) -> list[QueueActivities]:
    """The training task queue, polled where this worker may train (see worker_training)."""
    from jobdeck.activities.training import TrainingActivities
    from jobdeck.training.available import INSTALL_HINT, missing_modules

    settings = runtime.settings
    if settings.worker_training == "off":
        return []
    missing = missing_modules()
    if missing and settings.worker_training == "on":
        raise RuntimeError(
            f"JOBDECK_WORKER_TRAINING=on, but {', '.join(missing)} cannot be imported: "
            f"{INSTALL_HINT}"
        )
    if missing:
        return []
    return [
        QueueActivities(
            settings.training_queue,
            TrainingActivities(runtime).training(),
            max_concurrent=settings.training_slots,
        )
    ]


def load_registry(extra_modules: Sequence[str] = ()) -> JobTypeRegistry:
    registry = JobTypeRegistry(builtin_types())
    for module_name in extra_modules:
        module = importlib.import_module(module_name)
        for job_type in getattr(module, "JOB_TYPES", []):
            registry.register(job_type)
    return registry
