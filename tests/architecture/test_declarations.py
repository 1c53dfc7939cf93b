"""Every activity a job type's workflow calls is one its declaration provides, so no type
works only because another type happened to register its activities; and the plugin
route (one module, one setting) still adds a type."""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from collections.abc import Callable
from typing import Any

from temporalio import activity

from jobdeck.activities.records import JobRecords
from jobdeck.config import Settings
from jobdeck.registry import BUILTIN_TYPES, load_registry
from jobdeck.workflows.datasets import CONVERSION
from jobdeck.workflows.jobtype import JobType
from tests.conftest import TEST_JOB_TYPES

# The bookkeeping every worker registers on every queue (see worker.build_workers).
ALWAYS = set(JobRecords.__dict__.values())


def _is_activity(value: Any) -> bool:
    return callable(value) and activity._Definition.from_callable(value) is not None


def activities_called(workflow: type[Any]) -> set[Callable[..., Any]]:
    """The activity methods named in the workflow class's code and its base classes'
    (`SomeActivities.method`, however it is then called)."""
    found: set[Callable[..., Any]] = set()
    for cls in workflow.__mro__:
        if cls.__module__ in ("builtins", "typing"):
            continue
        module = sys.modules[cls.__module__]
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                owner = getattr(module, node.value.id, None)
                value = getattr(owner, node.attr, None) if owner is not None else None
                if _is_activity(value):
                    found.add(value)
    return found


def declared(job_type: JobType) -> set[Callable[..., Any]]:
    settings = Settings(worker_training="auto")
    queues = job_type.queues(settings) if job_type.queues else []
    return {*job_type.activities, *(a for q in queues for a in q.activities)}


def undeclared(job_type: JobType) -> set[str]:
    missing = activities_called(job_type.workflow) - declared(job_type) - ALWAYS
    return {f.__qualname__ for f in missing}


def test_every_called_activity_is_declared_by_its_type() -> None:
    registry = load_registry(TEST_JOB_TYPES)
    missing = {t.name: undeclared(t) for t in registry.all() if undeclared(t)}
    assert missing == {}


def test_a_workflow_calling_an_undeclared_activity_is_caught() -> None:
    """The check can fail: the conversion workflow with its activity left out."""
    stripped = JobType(workflow=CONVERSION.workflow, description="", activities=[])
    assert undeclared(stripped) == {"DatasetActivities.convert"}


def test_each_type_is_named_once_by_its_workflow() -> None:
    names = [t.name for t in BUILTIN_TYPES]
    assert len(names) == len(set(names))
    assert all(t.input_model.__name__.endswith("Data") for t in BUILTIN_TYPES)


def test_a_plugin_type_is_one_module_and_one_setting() -> None:
    settings = Settings(job_type_modules=TEST_JOB_TYPES)
    registry = load_registry(settings.job_type_modules)
    steps = registry.get("test-steps")
    assert steps.input_model.__name__ == "StepsData"
    assert [a.__qualname__ for a in steps.activities] == ["StepsActivities.run"]
    assert "test-steps" not in {t.name for t in load_registry().all()}
