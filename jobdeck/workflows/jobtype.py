"""How a job type is declared: once, beside its workflow.

A declaration ties the workflow (whose `@workflow.defn` name is the type's name, written
nowhere else), its input model (the workflow's type argument), the activities its
workflow calls (as unbound methods of activity classes; the worker builds each class once
and registers exactly these) and its task queues. A plugin module exposes
`JOB_TYPES: list[JobType]` and is named in JOBDECK_JOB_TYPE_MODULES.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from temporalio.workflow import _Definition

from jobdeck.errors import InvalidInput

if TYPE_CHECKING:
    from jobdeck.config import Settings
    from jobdeck.runtime import Runtime
    from jobdeck.store.accounts import Principal

# An activity as declared: `SomeActivities.method` (unbound) or a plain function.
Activity = Callable[..., Any]


def workflow_name(workflow: type[Any]) -> str:
    """The name a workflow class was registered under with `@workflow.defn(name=...)`."""
    # The SDK keeps it on its (private) definition; reading it keeps the name in one place.
    name = _Definition.must_from_class(workflow).name
    if name is None:
        raise TypeError(f"{workflow.__name__} is a dynamic workflow, not a job type")
    return name


@dataclass(frozen=True)
class QueueActivities:
    """Activities a job type runs on a task queue of their own, with its own concurrency
    (e.g. training: one per GPU)."""

    task_queue: str
    activities: Sequence[Activity]
    max_concurrent: int | None = None


@dataclass(frozen=True)
class JobType:
    workflow: type[Any]  # a JobWorkflow subclass with @workflow.defn(name=<the type's name>)
    description: str
    # What the workflow calls on the job's own task queue (bookkeeping is always there).
    activities: Sequence[Activity] = ()
    task_queue: str | None = None  # None: the default task queue
    # Activities on other task queues, given this worker's settings; none where this worker
    # should not poll them.
    queues: Callable[[Settings], Sequence[QueueActivities]] | None = None
    # Why this deployment cannot run the type now (None: it can); asked before a job starts.
    unavailable: Callable[[Runtime], Awaitable[str | None]] | None = None
    # What a job's checked data becomes before the job starts, given the caller (e.g. a
    # pipeline run pins its version and checks its inputs); raises InvalidInput, NotFound.
    prepare: Callable[[Runtime, Principal, dict[str, Any]], Awaitable[dict[str, Any]]] | None = None
    # False: only jobdeck starts jobs of this type (a pipeline run's map step); its forms
    # leave it out, and its `prepare` refuses a caller.
    startable: bool = True

    @property
    def name(self) -> str:
        return workflow_name(self.workflow)

    @property
    def input_model(self) -> type[BaseModel]:
        model: type[BaseModel] = self.workflow.input_model
        return model

    def validate(self, data: Any, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The job's data checked against its model, normalised for storage. `context`
        carries what validators may consult at the edge (e.g. the provider registry)."""
        try:
            model = self.input_model.model_validate(
                data if data is not None else {}, context=dict(context or {})
            )
        except ValidationError as err:
            problems = "; ".join(
                f"data.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                if e["loc"]
                else f"data: {e['msg']}"
                for e in err.errors()
            )
            raise InvalidInput(f"invalid data for a {self.name} job: {problems}") from err
        return model.model_dump(mode="json", by_alias=True)
