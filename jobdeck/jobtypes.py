"""The registry of job types: a type is a workflow class plus the model of its `data`.

Built-in types register here; more can be added by listing modules in
JOBDECK_JOB_TYPE_MODULES, each exposing `JOB_TYPES: list[JobType]`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from jobdeck.errors import InvalidInput

if TYPE_CHECKING:
    from jobdeck.runtime import Runtime

ActivityFactory = Callable[["Runtime"], Sequence[Callable[..., Any]]]


@dataclass(frozen=True)
class JobType:
    name: str
    description: str
    workflow: type[Any]
    input_model: type[BaseModel]
    # Activities this type's workflow calls, built once per worker from shared clients.
    activities: ActivityFactory | None = None
    task_queue: str | None = None  # None: the default task queue

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
    from jobdeck.inputs import (
        BulkOperationData,
        DataConversionData,
        DatasetValidationData,
        FineTuningData,
    )
    from jobdeck.workflows.bulk import BulkOperationWorkflow
    from jobdeck.workflows.datasets import DataConversionWorkflow, DatasetValidationWorkflow
    from jobdeck.workflows.fine_tuning import FineTuningWorkflow

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
    ]


def load_registry(extra_modules: Sequence[str] = ()) -> JobTypeRegistry:
    registry = JobTypeRegistry(builtin_types())
    for module_name in extra_modules:
        module = importlib.import_module(module_name)
        for job_type in getattr(module, "JOB_TYPES", []):
            registry.register(job_type)
    return registry
