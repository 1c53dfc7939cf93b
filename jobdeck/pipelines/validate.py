"""Checking a pipeline spec at save time, with errors that name the step and the field:
unknown step or reference, a cycle (named), an unknown job type, a value of the wrong
type, a missing required value. Nothing invalid is stored; a run's inputs are checked
the same way before the run exists.

The DAG: a step depends on the steps in its `dependsOn` and on every step its values,
condition or expression refer to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import Field, TypeAdapter, ValidationError

from jobdeck.errors import InvalidInput
from jobdeck.pipelines import jsonschemas, refs
from jobdeck.pipelines.maps import MAP_TYPE
from jobdeck.pipelines.spec import (
    INPUT_NAME,
    MAX_MAP_ITEMS,
    STEP_KINDS,
    SUB_STEP_KINDS,
    InputDef,
    InputType,
    PipelineSpec,
    Step,
    seconds_of,
)

# (job type, data) -> None for an unknown type, else the problems: (field in data, message).
JobDataCheck = Callable[[str, dict[str, Any]], list[tuple[str, str]] | None]

_STEP = TypeAdapter(Step)
_INPUTS: TypeAdapter[Any] = TypeAdapter(dict[Annotated[str, Field(pattern=INPUT_NAME)], InputDef])


@dataclass(frozen=True)
class SpecProblem:
    field: str
    message: str


class SpecInvalid(InvalidInput):
    """A spec (or a run's inputs) with problems; each names where it is."""

    def __init__(self, problems: list[SpecProblem], what: str = "the pipeline spec") -> None:
        self.problems = problems
        summary = "; ".join(f"{p.field}: {p.message}" for p in problems[:20])
        super().__init__(f"{what} is not valid: {summary}")


def _where(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_spec(raw: Any, check_job: JobDataCheck | None = None) -> PipelineSpec:
    """The spec as models, or SpecInvalid listing every problem found."""
    if not isinstance(raw, dict):
        raise SpecInvalid([SpecProblem("spec", "must be an object with inputs, steps, outputs")])
    problems: list[SpecProblem] = []
    raw_steps = raw.get("steps")
    steps: list[Any] = []
    if not isinstance(raw_steps, list) or not raw_steps:
        problems.append(SpecProblem("steps", "must be a list of at least one step"))
    else:
        for index, item in enumerate(raw_steps):
            name = (
                f"steps.{item['id']}"
                if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]
                else f"steps[{index}]"
            )
            if not isinstance(item, dict):
                problems.append(SpecProblem(name, "must be an object with an id and a kind"))
                continue
            kind = item.get("kind")
            if kind not in STEP_KINDS:
                problems.append(
                    SpecProblem(
                        f"{name}.kind",
                        f"unknown step kind {kind!r}; one of: {', '.join(STEP_KINDS)}"
                        if kind is not None
                        else f"missing; one of: {', '.join(STEP_KINDS)}",
                    )
                )
                continue
            if kind == "map":
                found = _sub_step_problem(item.get("step"), f"{name}.step")
                if found is not None:
                    problems.append(found)
                    continue
            try:
                steps.append(_STEP.validate_python(item))
            except ValidationError as err:
                problems += [_step_problem(name, e) for e in err.errors()]
    for key in raw:
        if key not in ("inputs", "steps", "outputs"):
            problems.append(
                SpecProblem(str(key), "unknown field; a spec has inputs, steps, outputs")
            )
    try:
        _INPUTS.validate_python(raw.get("inputs", {}))
    except ValidationError as err:
        problems += [SpecProblem(_where(["inputs", *e["loc"]]), e["msg"]) for e in err.errors()]
    if not isinstance(raw.get("outputs", {}), dict):
        problems.append(SpecProblem("outputs", "must be an object: name -> value or reference"))
    if problems:
        raise SpecInvalid(problems)
    spec = PipelineSpec.model_validate(raw)
    problems += check_spec(spec, check_job)
    if problems:
        raise SpecInvalid(problems)
    return spec


# What a map's step has not, since it runs once per item when the map does.
_NOT_IN_SUB_STEPS = {
    "id": "a map's step has no id of its own: the map's id names it",
    "dependsOn": "a map's step runs when the map does: put dependsOn on the map",
    "continueOnError": "set continueOnError on the map: it lets items fail",
}


def _step_problem(name: str, error: Any) -> SpecProblem:
    """A step's validation error, located without the union tags pydantic puts in."""
    loc = list(error["loc"][1:])  # the step's own kind
    if len(loc) > 1 and loc[0] == "step" and loc[1] in SUB_STEP_KINDS:
        loc.pop(1)  # the map's step's kind
        if len(loc) == 2 and error["type"] == "extra_forbidden" and loc[1] in _NOT_IN_SUB_STEPS:
            return SpecProblem(_where([name, *loc]), _NOT_IN_SUB_STEPS[str(loc[1])])
    return SpecProblem(_where([name, *loc]), error["msg"])


def _sub_step_problem(sub: Any, where: str) -> SpecProblem | None:
    """A map's step that is not one of the kinds a map runs (said plainly, before pydantic
    lists the kinds its union expects)."""
    if not isinstance(sub, dict):
        return SpecProblem(where, "must be a step (an object with a kind) to run for each item")
    kinds = ", ".join(SUB_STEP_KINDS)
    kind = sub.get("kind")
    if kind is None:
        return SpecProblem(f"{where}.kind", f"missing; one of: {kinds}")
    if kind not in SUB_STEP_KINDS:
        return SpecProblem(f"{where}.kind", f"a map runs a step of kind {kinds}; not {kind!r}")
    return None


def _type_problem(declared: InputType, value: Any) -> str | None:
    ok = {
        InputType.STRING: isinstance(value, str),
        InputType.NUMBER: isinstance(value, int | float) and not isinstance(value, bool),
        InputType.INTEGER: isinstance(value, int) and not isinstance(value, bool),
        InputType.BOOLEAN: isinstance(value, bool),
        InputType.OBJECT: isinstance(value, dict),
        InputType.ARRAY: isinstance(value, list),
    }[declared]
    if ok:
        return None
    return f"expected {declared.value}, got {_json_type(value)}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _values(step: Any) -> dict[str, Any]:
    """The fields of a step that may hold references (a map's: its items and its step's)."""
    skip = {"id", "kind", "name", "depends_on", "if_", "retry", "continue_on_error"}
    values = {
        step.__class__.model_fields[name].alias or name: getattr(step, name)
        for name in step.__class__.model_fields
        if name not in skip
    }
    if step.kind == "map":
        values["step"] = _values(step.step)
    return values


def _expressions(step: Any) -> list[str]:
    """The JMESPath expressions over {inputs, steps} a step evaluates: its condition, a
    transform's expression without an input, and those of a map's step."""
    found = [step.if_] if step.if_ else []
    if step.kind == "transform" and step.input is None:
        found.append(step.expression)
    if step.kind == "map":
        found += _expressions(step.step)
    return found


def dependencies(spec: PipelineSpec) -> dict[str, list[str]]:
    """Each step's upstream steps: dependsOn, plus what its values and condition read."""
    known = {s.id for s in spec.steps}
    deps: dict[str, list[str]] = {}
    for step in spec.steps:
        found = dict.fromkeys(step.depends_on)
        for _, text in refs.find_refs(_values(step)):
            try:
                ref = refs.parse_ref(text)
            except refs.ReferenceProblem:
                continue
            if ref.root == "steps":
                found[ref.name] = None
        for expression in _expressions(step):
            found.update(dict.fromkeys(s for s in refs.expression_steps(expression) if s in known))
        deps[step.id] = list(found)
    return deps


def find_cycle(deps: dict[str, list[str]]) -> list[str] | None:
    """A cycle as the steps along it, the first repeated at the end; None if there is none."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in deps.get(node, []):
            if nxt not in deps:
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in deps:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


RUN_TYPE = "workflow-execution"


def nested_runs(spec: PipelineSpec) -> list[tuple[str, str, int | None]]:
    """The pipelines the spec's job steps run, as (step id, pipeline id, version or None
    for the latest), where the spec names them literally (a reference is known only at
    run time: pipeline_max_depth stops those)."""
    found = []
    for outer in spec.steps:
        step = outer.step if outer.kind == "map" else outer
        if step.kind != "job" or step.job_type != RUN_TYPE:
            continue
        target, version = step.data.get("workflowId"), step.data.get("version")
        if not isinstance(target, str) or refs.has_ref(target):
            continue
        pinned = version if isinstance(version, int) and not isinstance(version, bool) else None
        found.append((outer.id, target, pinned))
    return found


def upstream(deps: dict[str, list[str]], step_id: str) -> set[str]:
    """Every step `step_id` depends on, directly or not."""
    seen: set[str] = set()
    todo = list(deps.get(step_id, []))
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo += deps.get(node, [])
    return seen


def check_spec(spec: PipelineSpec, check_job: JobDataCheck | None = None) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    ids: set[str] = set()
    for step in spec.steps:
        if step.id in ids:
            problems.append(SpecProblem(f"steps.{step.id}.id", "another step has this id"))
        ids.add(step.id)
    for name, declared in spec.inputs.items():
        if not declared.required:
            why = _type_problem(declared.type, declared.default)
            if why and declared.default is not None:
                problems.append(SpecProblem(f"inputs.{name}.default", why))
    for step in spec.steps:
        where = f"steps.{step.id}"
        for dep in step.depends_on:
            if dep not in ids:
                problems.append(SpecProblem(f"{where}.dependsOn", f"unknown step {dep!r}"))
        if step.kind == "map":
            problems += _check_map(spec, step, where, ids)
        else:
            problems += _check_refs(spec, _values(step), where, ids)
        problems += _check_expressions(spec, step, where, ids)
        problems += _check_kind(step, where, check_job)
    problems += _check_refs(spec, spec.outputs, "outputs", ids)
    deps = dependencies(spec)
    cycle = find_cycle({k: [d for d in v if d in ids] for k, v in deps.items()})
    if cycle:
        problems.append(SpecProblem(f"steps.{cycle[0]}.dependsOn", f"cycle: {' -> '.join(cycle)}"))
    return problems


def _check_expressions(
    spec: PipelineSpec, step: Any, where: str, ids: set[str]
) -> list[SpecProblem]:
    problems = []
    for field, expression in (
        ("if", step.if_),
        ("expression", getattr(step, "expression", None)),
    ):
        if expression is None:
            continue
        try:
            jmespath.compile(expression)
        except JMESPathError as err:
            problems.append(SpecProblem(f"{where}.{field}", f"not a JMESPath expression: {err}"))
            continue
        if field == "expression" and getattr(step, "input", None) is not None:
            continue
        for used in sorted(refs.expression_steps(expression) - ids):
            problems.append(SpecProblem(f"{where}.{field}", f"unknown step {used!r}"))
        for used in sorted(refs.expression_inputs(expression) - set(spec.inputs)):
            problems.append(SpecProblem(f"{where}.{field}", f"unknown input {used!r}"))
    if step.kind == "map":
        problems += _check_expressions(spec, step.step, f"{where}.step", ids)
    return problems


def _check_map(spec: PipelineSpec, step: Any, where: str, ids: set[str]) -> list[SpecProblem]:
    """A map's items (a list, or one reference to one) and its step's references (which
    may read the item and its index)."""
    problems = _check_refs(spec, {"items": step.items}, where, ids)
    items = step.items
    at = f"{where}.items"
    if isinstance(items, str):
        whole = refs.whole_ref(items)
        if whole is None:
            problems.append(
                SpecProblem(
                    at, "must be a list, or one reference to a list, e.g. ${steps.load.output}"
                )
            )
        else:
            problems += _items_input_problem(spec, whole, at)
    elif not isinstance(items, list):
        problems.append(
            SpecProblem(at, f"must be a list, or one reference to a list; got {_json_type(items)}")
        )
    elif len(items) > MAX_MAP_ITEMS:
        problems.append(SpecProblem(at, f"{len(items)} items; a map takes at most {MAX_MAP_ITEMS}"))
    if step.retry is not None:
        problems.append(
            SpecProblem(f"{where}.retry", "a map retries each item: set retry on the map's step")
        )
    problems += _check_refs(spec, _values(step.step), f"{where}.step", ids, item_ok=True)
    return problems


def _items_input_problem(spec: PipelineSpec, text: str, at: str) -> list[SpecProblem]:
    """A map over a whole input that is declared as something other than an array."""
    try:
        ref = refs.parse_ref(text)
    except refs.ReferenceProblem:
        return []  # said by _check_refs
    declared = spec.inputs.get(ref.name) if ref.root == "inputs" and not ref.path else None
    if declared is None or declared.type == InputType.ARRAY:
        return []
    return [SpecProblem(at, f"input {ref.name!r} is {declared.type.value}, not an array")]


def _check_refs(
    spec: PipelineSpec, value: Any, where: str, ids: set[str], *, item_ok: bool = False
) -> list[SpecProblem]:
    problems = []
    for field, text in refs.find_refs(value):
        at = f"{where}.{field}" if field else where
        try:
            ref = refs.parse_ref(text)
        except refs.ReferenceProblem as err:
            problems.append(SpecProblem(at, str(err)))
            continue
        if ref.root in refs.ITEM_ROOTS and not item_ok:
            problems.append(
                SpecProblem(at, f"${{{text}}} is known only in a map's step, for each item")
            )
        if ref.root == "inputs" and ref.name not in spec.inputs:
            declared = ", ".join(sorted(spec.inputs)) or "none"
            problems.append(
                SpecProblem(at, f"unknown input {ref.name!r} in ${{{text}}}; declared: {declared}")
            )
        if ref.root == "steps" and ref.name not in ids:
            problems.append(SpecProblem(at, f"unknown step {ref.name!r} in ${{{text}}}"))
    return problems


def _check_kind(step: Any, where: str, check_job: JobDataCheck | None) -> list[SpecProblem]:
    problems = []
    if step.kind == "sleep" and not refs.has_ref(step.seconds):
        try:
            seconds_of(step.seconds)
        except ValueError as err:
            problems.append(SpecProblem(f"{where}.seconds", str(err)))
    if step.kind == "approval" and step.default_decision and step.timeout is None:
        problems.append(
            SpecProblem(f"{where}.defaultDecision", "applies when a timeout runs out: set timeout")
        )
    if step.kind == "llm" and step.response_schema is not None:
        why = jsonschemas.schema_problem(step.response_schema)
        if why:
            problems.append(SpecProblem(f"{where}.responseSchema", why))
    if step.kind == "map":
        problems += _check_kind(step.step, f"{where}.step", check_job)
    if step.kind == "job" and step.job_type == MAP_TYPE:
        problems.append(
            SpecProblem(
                f"{where}.jobType", f"{MAP_TYPE} jobs are started by map steps: use a map step"
            )
        )
    elif step.kind == "job" and check_job is not None:
        found = check_job(step.job_type, step.data)
        if found is None:
            problems.append(SpecProblem(f"{where}.jobType", f"unknown job type {step.job_type!r}"))
        else:
            problems += [
                SpecProblem(f"{where}.data.{field}" if field else f"{where}.data", message)
                for field, message in found
            ]
    return problems


def data_problems(err: ValidationError, data: dict[str, Any]) -> list[tuple[str, str]]:
    """A job type's validation errors for a step's data, less those at (or under) a value
    that is a reference: it is only known at run time."""
    problems = []
    for e in err.errors():
        loc = list(e["loc"])
        value: Any = data
        referenced = False
        for part in loc:
            if refs.has_ref(value):
                referenced = True
                break
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and isinstance(part, int) and part < len(value):
                value = value[part]
            else:
                value = None
                break
        if referenced or refs.has_ref(value):
            continue
        problems.append((_where(loc), e["msg"]))
    return problems


def check_inputs(spec: PipelineSpec, given: dict[str, Any]) -> dict[str, Any]:
    """A run's inputs with defaults filled in, or SpecInvalid naming each bad one."""
    problems: list[SpecProblem] = []
    out: dict[str, Any] = {}
    for name in given:
        if name not in spec.inputs:
            names = ", ".join(sorted(spec.inputs)) or "none"
            problems.append(SpecProblem(f"inputs.{name}", f"unknown input; declared: {names}"))
    for name, declared in spec.inputs.items():
        if name in given:
            why = _type_problem(declared.type, given[name])
            if why:
                problems.append(SpecProblem(f"inputs.{name}", why))
            out[name] = given[name]
        elif declared.required:
            problems.append(
                SpecProblem(f"inputs.{name}", f"required input ({declared.type.value}) missing")
            )
        else:
            out[name] = declared.default
    if problems:
        raise SpecInvalid(problems, "the run's inputs")
    return out
