"""The pipeline spec: what a user writes (JSON or YAML), as pydantic models whose JSON
Schema is published at GET /api/pipelines/schema.

Pure data, safe to import from workflow code. Checks that need more than one step (the
graph, references, job types) live in validate.py.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

MAX_STEPS = 200
MAX_MAP_ITEMS = 100_000
MAX_MAP_CONCURRENCY = 100
STEP_ID = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"
INPUT_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def seconds_of(value: float | str) -> float:
    """A duration as seconds: a number of seconds, or "500ms", "30s", "5m", "2h", "1d"."""
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f'{value!r} is not a duration: e.g. 30, "30s", "5m", "2h"')
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 0 or seconds > 366 * 86400:
        raise ValueError("a duration must be between 0 and 366 days")
    return seconds


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


Duration = Annotated[
    float | str,
    Field(description='Seconds, or a string with a unit: "500ms", "30s", "5m", "2h", "1d"'),
]


class InputType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    OBJECT = "object"
    ARRAY = "array"


class InputDef(_Model):
    """A run input; without a `default` it is required."""

    type: InputType = InputType.STRING
    default: Any = None
    description: str | None = Field(default=None, max_length=2000)

    @property
    def required(self) -> bool:
        return "default" not in self.model_fields_set


class RetryDef(_Model):
    max_attempts: int = Field(
        default=3, ge=1, le=20, description="Tries in all, the first included"
    )
    backoff: Duration = Field(default=1.0, description="Wait before the 2nd try; doubles after")

    @field_validator("backoff")
    @classmethod
    def _backoff(cls, value: float | str) -> float | str:
        seconds_of(value)
        return value


class StepBase(_Model):
    id: str = Field(pattern=STEP_ID, description="Unique within the pipeline")
    name: str | None = Field(default=None, max_length=200)
    depends_on: list[str] = Field(default_factory=list, max_length=MAX_STEPS)
    if_: str | None = Field(
        default=None,
        alias="if",
        max_length=2000,
        description="A JMESPath condition over {inputs, steps}; the step is skipped when false",
    )
    retry: RetryDef | None = None
    timeout: Duration | None = Field(default=None, description="Of one try")
    continue_on_error: bool = Field(
        default=False, description="A failure of this step does not fail the run"
    )

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: float | str | None) -> float | str | None:
        if value is not None and seconds_of(value) <= 0:
            raise ValueError("a timeout must be longer than 0 s")
        return value


class _TransformFields(_Model):
    kind: Literal["transform"]
    expression: str = Field(min_length=1, max_length=10_000, description="JMESPath")
    input: Any = Field(
        default=None,
        description="What the expression reads (references resolved); default: {inputs, "
        "steps} (in a map's step: {inputs, steps, item, index})",
    )


class TransformStep(_TransformFields, StepBase):
    """Reshape data with a JMESPath expression (no code runs)."""


class SleepStep(StepBase):
    """A durable timer."""

    kind: Literal["sleep"]
    seconds: Duration


class WaitStep(StepBase):
    """Wait until a moment (ISO 8601 with a zone); a moment past goes on at once."""

    kind: Literal["wait"]
    until: str = Field(min_length=1, max_length=200)


class _JobFields(_Model):
    kind: Literal["job"]
    job_type: str = Field(min_length=1, max_length=64)
    job_name: str | None = Field(default=None, max_length=200)
    data: dict[str, Any] = Field(default_factory=dict)
    priority: int | None = Field(default=None, ge=1, le=5)


class JobStep(_JobFields, StepBase):
    """Start a jobdeck job as a child job of the run and wait for it; its result is the
    step's output."""


class ApprovalStep(StepBase):
    """Wait for a person to approve or reject; with `timeout`, `defaultDecision` is taken
    when it runs out (without one, the step fails)."""

    kind: Literal["approval"]
    message: str | None = Field(default=None, max_length=2000)
    default_decision: Literal["approve", "reject"] | None = None


class _HttpFields(_Model):
    kind: Literal["http"]
    url: str = Field(min_length=1, max_length=2000)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = Field(default=None, description="Sent as JSON")
    expected_statuses: list[int] = Field(
        default_factory=list, description="Default: any 2xx", max_length=100
    )


class HttpStep(_HttpFields, StepBase):
    """Call a URL; 5xx and 429 answers are retried."""


class _LlmFields(_Model):
    kind: Literal["llm"]
    provider: Literal["openai", "ollama"] = "openai"
    model: str = Field(min_length=1, max_length=200)
    system: str | None = Field(default=None, max_length=100_000)
    prompt: str = Field(min_length=1, max_length=100_000, description="References resolved")
    response_schema: dict[str, Any] | None = Field(
        default=None,
        description="A JSON Schema the answer must follow: parsed as JSON and checked "
        "against it (the step fails naming the first violation)",
    )
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)


class LlmStep(_LlmFields, StepBase):
    """A chat completion (OpenAI-compatible or Ollama); keys come from settings."""


class SubStepBase(_Model):
    """What a map's step has of a step: no id, no dependsOn (it runs once per item, when
    the map does), no continueOnError (the map's own says whether failed items fail it)."""

    name: str | None = Field(default=None, max_length=200)
    if_: str | None = Field(
        default=None,
        alias="if",
        max_length=2000,
        description="A JMESPath condition over {inputs, steps, item, index}; the item is "
        "skipped when false",
    )
    retry: RetryDef | None = Field(default=None, description="Of each item")
    timeout: Duration | None = Field(default=None, description="Of one try of one item")

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: float | str | None) -> float | str | None:
        if value is not None and seconds_of(value) <= 0:
            raise ValueError("a timeout must be longer than 0 s")
        return value


class MapTransform(_TransformFields, SubStepBase):
    """A transform for each item."""


class MapHttp(_HttpFields, SubStepBase):
    """An HTTP call for each item."""


class MapLlm(_LlmFields, SubStepBase):
    """A chat completion for each item."""


class MapJob(_JobFields, SubStepBase):
    """A child job for each item."""


SubStep = Annotated[MapTransform | MapHttp | MapLlm | MapJob, Field(discriminator="kind")]
SUB_STEP_KINDS = ("transform", "http", "llm", "job")


class MapStep(StepBase):
    """Run `step` once for each item of `items`, at most `concurrency` items at once;
    `${item}` and `${index}` in the step are the item and its position. The output is
    {results (in item order; null where an item failed or was skipped), total,
    succeeded, failed, skipped, errors}; each item's outcome is a row of the map's child
    job (GET /api/jobs/{childJobId}/items). A failed item fails the step unless
    continueOnError, which lets the step complete with the failures in its output."""

    kind: Literal["map"]
    items: Any = Field(
        description="A list, or a reference to one, e.g. ${steps.load.output.rows}; "
        f"at most {MAX_MAP_ITEMS} items"
    )
    concurrency: int = Field(
        default=10, ge=1, le=MAX_MAP_CONCURRENCY, description="Items worked at once, at most"
    )
    step: SubStep


Step = Annotated[
    TransformStep | SleepStep | WaitStep | JobStep | ApprovalStep | HttpStep | LlmStep | MapStep,
    Field(discriminator="kind"),
]
STEP_KINDS = ("transform", "sleep", "wait", "job", "approval", "http", "llm", "map")


class PipelineSpec(_Model):
    """A pipeline: typed inputs, steps (a DAG through dependsOn and references), and the
    outputs that become the run's result."""

    inputs: dict[Annotated[str, Field(pattern=INPUT_NAME)], InputDef] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    outputs: dict[str, Any] = Field(
        default_factory=dict, description="The run's result; references resolved"
    )

    def step(self, step_id: str) -> Any:
        return next(s for s in self.steps if s.id == step_id)

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


def json_schema() -> dict[str, Any]:
    schema = PipelineSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "jobdeck pipeline"
    return schema
