"""A map step's child job (`pipeline-map`): its data, as the run hands it over, and the
defaults each item's tries take. Pure data, shared by the workflow, the activities and
the API's check of the job's data."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from jobdeck.pipelines.spec import MAX_MAP_CONCURRENCY, STEP_ID, SubStep

MAP_TYPE = "pipeline-map"
# Tries and the limit of one try, per kind, where the step does not say (a step of the
# run takes the same).
DEFAULT_ATTEMPTS = {"transform": 1, "http": 3, "llm": 3, "job": 1}
DEFAULT_TIMEOUT_S = {"transform": 60.0, "http": 300.0, "llm": 600.0}
MAX_ERRORS = 100  # failed items named in the map's output (all are in its items)


class PipelineMapData(BaseModel):
    """One map step of a run: the step to run for each item, the items (a list, or the
    reference the spec wrote, resolved against `context` by the job's first step: a large
    list never passes through a workflow's history), and what the step may read."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
    step_id: str = Field(pattern=STEP_ID, description="The map step's id in its run")
    step: SubStep
    items: Any
    concurrency: int = Field(default=10, ge=1, le=MAX_MAP_CONCURRENCY)
    continue_on_error: bool = False
    context: dict[str, Any] = Field(
        default_factory=dict, description="{inputs, steps: {id: {output, status, error}}}"
    )
    # A job step's child jobs started by one run of the map's workflow before it continues
    # as new (about 7 history events each).
    children_per_run: int = Field(default=500, ge=2, le=5000)
