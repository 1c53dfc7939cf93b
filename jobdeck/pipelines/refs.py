"""References between a pipeline's values: `${inputs.x}`, `${steps.a.output.rows[0]}`,
`${steps.a.status}`, and in a map's step `${item}`, `${item.field[0]}`, `${index}`. Pure
functions, used at save time (to check them) and at run time (by the workflow for small
values, by activities where a large output must be read).

A string that is exactly one reference takes the referenced value as it is (a number
stays a number); references inside a longer string are written into it (JSON for values
that are not strings). A missing key or index reads as null, as JMESPath does.

A large step output is kept in file storage and appears in the run's context as a blob
marker, `{"$blob": key, "bytes": n}`; `resolve` stops at one with NeedsBlob, so code
that cannot read files (the workflow) hands the work to an activity.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

BLOB = "$blob"
_REF = re.compile(r"\$\{([^}]*)\}")
_SEGMENT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]")
_HEAD = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_-]*)")
# A map's item and its position, known only inside the map's step: ${item.a[0]}, ${index}.
_ITEM = re.compile(r"^(item|index)(?![A-Za-z0-9_-])")
ITEM_ROOTS = ("item", "index")
STEP_FIELDS = ("output", "status", "error")


class ReferenceProblem(ValueError):
    """A reference that cannot be read (bad syntax)."""


class NeedsBlob(Exception):
    """A reference reaches into a large output kept in file storage."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class Ref:
    text: str  # as written, without ${ }
    root: str  # "inputs" or "steps"
    name: str  # the input's name or the step's id
    path: tuple[str | int, ...]  # after the name (for steps: output/status/error first)


def parse_ref(text: str) -> Ref:
    stripped = text.strip()
    item = _ITEM.match(stripped)
    if item is not None:
        path = _path(text, stripped[item.end() :])
        if item.group(1) == "index" and path:
            raise ReferenceProblem(f"${{{text}}}: ${{index}} is a number, with no path after it")
        return Ref(text=text, root=item.group(1), name="", path=path)
    head = _HEAD.match(stripped)
    if head is None:
        raise ReferenceProblem(
            f"${{{text}}} is not a reference; write ${{inputs.NAME}} or ${{steps.ID.output}}"
        )
    root, name = head.group(1), head.group(2)
    path = _path(text, stripped[head.end() :])
    if root not in ("inputs", "steps"):
        raise ReferenceProblem(
            f"${{{text}}}: references start with inputs. or steps. (or, in a map's step, "
            "are ${item...} or ${index})"
        )
    if root == "steps" and (not path or path[0] not in STEP_FIELDS):
        raise ReferenceProblem(
            f"${{{text}}}: a step reference names one of {', '.join(STEP_FIELDS)} after the "
            "step id, e.g. ${steps.ID.output}"
        )
    return Ref(text=text, root=root, name=name, path=path)


def _path(text: str, rest: str) -> tuple[str | int, ...]:
    path: list[str | int] = []
    pos = 0
    while pos < len(rest):
        match = _SEGMENT.match(rest, pos)
        if match is None:
            raise ReferenceProblem(f"${{{text}}}: cannot read the path at {rest[pos:]!r}")
        path.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        pos = match.end()
    return tuple(path)


def find_refs(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every `${...}` in a value, with where it is: (field path, text inside ${ })."""
    if isinstance(value, str):
        for match in _REF.finditer(value):
            yield where, match.group(1)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from find_refs(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from find_refs(item, f"{where}[{index}]")


def has_ref(value: Any) -> bool:
    return isinstance(value, str) and _REF.search(value) is not None


def whole_ref(value: str) -> str | None:
    """The text inside ${ } of a string that is exactly one reference, else None."""
    whole = _REF.fullmatch(value)
    return whole.group(1) if whole is not None else None


def is_blob(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get(BLOB), str)


def holds_blob(value: Any) -> bool:
    """Whether a blob marker is anywhere in `value` (an activity must read it)."""
    if is_blob(value):
        return True
    if isinstance(value, dict):
        return any(holds_blob(v) for v in value.values())
    if isinstance(value, list):
        return any(holds_blob(v) for v in value)
    return False


def _walk(value: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        if is_blob(value):
            raise NeedsBlob(value[BLOB])
        if isinstance(part, int) and isinstance(value, list):
            value = value[part] if part < len(value) else None
        elif isinstance(part, str) and isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def lookup(ref: Ref, context: dict[str, Any]) -> Any:
    if ref.root in ITEM_ROOTS:
        return _walk(context.get(ref.root), ref.path)
    if ref.root == "inputs":
        return _walk(context.get("inputs", {}).get(ref.name), ref.path)
    step = context.get("steps", {}).get(ref.name)
    if step is None:
        return None
    return _walk(step, ref.path)


def resolve(value: Any, context: dict[str, Any], *, whole_blobs: bool = False) -> Any:
    """`value` with its references replaced from `context` ({inputs, steps: {id: {output,
    status, error}}}). Raises NeedsBlob where a large output would have to be read, unless
    `whole_blobs` lets a reference to the whole output carry the marker itself."""
    if isinstance(value, str):
        whole = _REF.fullmatch(value)
        if whole is not None:
            found = lookup(parse_ref(whole.group(1)), context)
            if is_blob(found) and not whole_blobs:
                raise NeedsBlob(found[BLOB])
            return found

        def write(match: re.Match[str]) -> str:
            found = lookup(parse_ref(match.group(1)), context)
            if is_blob(found):
                raise NeedsBlob(found[BLOB])
            return found if isinstance(found, str) else json.dumps(found)

        return _REF.sub(write, value)
    if isinstance(value, dict):
        return {key: resolve(item, context, whole_blobs=whole_blobs) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, context, whole_blobs=whole_blobs) for item in value]
    return value


_CONDITION_STEP = re.compile(r"\bsteps\s*\.\s*(?:\"([^\"]+)\"|([A-Za-z_][A-Za-z0-9_]*))")
_CONDITION_INPUT = re.compile(r"\binputs\s*\.\s*(?:\"([^\"]+)\"|([A-Za-z_][A-Za-z0-9_]*))")


def expression_steps(expression: str) -> set[str]:
    """The steps a JMESPath expression over {inputs, steps} reads (steps.ID or
    steps."ID-with-dashes")."""
    return {a or b for a, b in _CONDITION_STEP.findall(expression)}


def expression_inputs(expression: str) -> set[str]:
    return {a or b for a, b in _CONDITION_INPUT.findall(expression)}
