"""What a run's page shows of each step beyond its row: the steps it waits for (the edges
of the run's graph, references included) and what it reads, resolved over the run's
inputs and the outputs its row records. Pure functions over the pinned spec and the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobdeck.pipelines import refs
from jobdeck.pipelines.runs import TERMINAL_STEP_STATUSES, StepStatus
from jobdeck.pipelines.spec import PipelineSpec
from jobdeck.pipelines.validate import dependencies

# How a step runs, not what it reads: shown elsewhere (the edges, the row's reason).
_NOT_INPUT = ("id", "kind", "name", "dependsOn", "if", "retry", "continueOnError")


@dataclass(frozen=True)
class StepView:
    name: str | None
    depends_on: list[str]
    input: dict[str, Any]
    input_resolved: bool  # False: as written in the spec (not started, or reads a large output)


def step_views(spec: PipelineSpec, rows: list[Any], inputs: dict[str, Any]) -> dict[str, StepView]:
    """Each step of the spec by id. A step that has started reads its upstream steps'
    recorded outputs; one that has not shows its references as written, since what they
    will read does not exist yet."""
    deps = dependencies(spec)
    by_id = {row.step_id: row for row in rows}
    context = {
        "inputs": inputs,
        "steps": {
            row.step_id: {
                "output": (row.output or {}).get("value"),
                "status": row.status,
                "error": row.error,
            }
            for row in rows
            if row.status in TERMINAL_STEP_STATUSES
        },
    }
    views = {}
    for step in spec.steps:
        dumped = step.model_dump(mode="json", by_alias=True, exclude_unset=True)
        written = {k: v for k, v in dumped.items() if k not in _NOT_INPUT}
        row = by_id.get(step.id)
        value, resolved = written, False
        # A waiting approval has begun (its row has no start time: it runs no work).
        if row is not None and (row.started_at is not None or row.status == StepStatus.WAITING):
            try:
                # A reference to a whole large output shows its marker (GET .../output
                # reads it); one into it would need the file: left as written.
                value, resolved = _resolve(step.kind, written, context), True
            except (refs.NeedsBlob, refs.ReferenceProblem):
                pass
        views[step.id] = StepView(step.name, deps[step.id], value, resolved)
    return views


def _resolve(kind: str, written: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    # A map's own step reads ${item} and ${index}, one of each per item: as written.
    inner = {k: v for k, v in written.items() if k == "step"} if kind == "map" else {}
    outer = {k: v for k, v in written.items() if k not in inner}
    resolved: dict[str, Any] = refs.resolve(outer, context, whole_blobs=True)
    return {**resolved, **inner}
