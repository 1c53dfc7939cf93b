"""The registry of job types: the built-in ones, one line each, and plugins.

A type is declared once, beside its workflow (see workflows/jobtype.py). More can be
added by listing modules in JOBDECK_JOB_TYPE_MODULES, each exposing
`JOB_TYPES: list[JobType]`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from typing import Any

from jobdeck.activities.fine_tuning.providers import PROVIDERS
from jobdeck.errors import InvalidInput
from jobdeck.workflows import (
    bulk,
    datasets,
    documents,
    fine_tuning,
    pipeline,
    pipeline_map,
    publish,
    training,
)
from jobdeck.workflows.jobtype import JobType

BUILTIN_TYPES = [
    bulk.JOB_TYPE,
    datasets.CONVERSION,
    datasets.VALIDATION,
    fine_tuning.JOB_TYPE,
    training.JOB_TYPE,
    publish.JOB_TYPE,
    pipeline.JOB_TYPE,
    pipeline_map.JOB_TYPE,
    documents.JOB_TYPE,
]


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

    def workflows(self) -> list[type[Any]]:
        """The workflow classes of the registered types, each once."""
        return list(dict.fromkeys(t.workflow for t in self._types.values()))

    def validate(self, name: str, data: Any) -> tuple[JobType, dict[str, Any]]:
        """The type, and a job's data checked against its model, with what the models'
        validators may consult at the edge (the fine-tuning providers)."""
        job_type = self.get(name)
        context = {"job_type": job_type.name, "fine_tuning_providers": PROVIDERS}
        return job_type, job_type.validate(data, context)


def load_registry(extra_modules: Sequence[str] = ()) -> JobTypeRegistry:
    registry = JobTypeRegistry(BUILTIN_TYPES)
    for module_name in extra_modules:
        module = importlib.import_module(module_name)
        for job_type in getattr(module, "JOB_TYPES", []):
            registry.register(job_type)
    return registry
