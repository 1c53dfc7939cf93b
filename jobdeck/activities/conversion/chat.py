"""Rows to OpenAI chat examples from a column mapping, vectorised with Arrow compute: the
content of each role is a column, a constant, or a template of literals and {column}
fields; JSON escaping and the lines themselves are built on whole columns, so no Python
object is made per row unless the validation report needs the text."""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobdeck.activities.conversion.batches import Batch
from jobdeck.activities.conversion.errors import DataError


@dataclass(frozen=True)
class Column:
    name: str


Piece = str | Column  # a literal or a column's value


@dataclass
class ChatMapping:
    """The roles in order, each with the pieces its content is made of."""

    roles: list[tuple[str, list[Piece]]] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return list(
            dict.fromkeys(p.name for _, ps in self.roles for p in ps if isinstance(p, Column))
        )


def _template(text: str, role: str) -> list[Piece]:
    pieces: list[Piece] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as err:
        raise DataError(
            f"the {role} template is not valid ({err}); write {{{{ and }}}} for literal braces",
            kind="MappingError",
        ) from None
    for literal, name, spec, conversion in parsed:
        if literal:
            pieces.append(literal)
        if name is None:
            continue
        if not name or spec or conversion:
            raise DataError(
                f"the {role} template has a field {{{name or ''}}} that is not a plain "
                "{column name}",
                kind="MappingError",
            )
        pieces.append(Column(name))
    return pieces


def build_mapping(raw: dict[str, Any]) -> ChatMapping:
    """From the job input's mapping (checked for shape at the HTTP edge)."""
    mapping = ChatMapping()
    template = raw.get("template")
    system_prompt = raw.get("systemPrompt")
    if template:
        for role in ("system", "user", "assistant"):
            if template.get(role):
                mapping.roles.append((role, _template(template[role], role)))
        if system_prompt and not template.get("system"):
            mapping.roles.insert(0, ("system", [system_prompt]))
        return mapping
    if raw.get("system"):
        mapping.roles.append(("system", [Column(raw["system"])]))
    elif system_prompt:
        mapping.roles.append(("system", [system_prompt]))
    mapping.roles.append(("user", [Column(raw.get("user") or raw["prompt"])]))
    mapping.roles.append(("assistant", [Column(raw.get("assistant") or raw["completion"])]))
    return mapping


def check_columns(mapping: ChatMapping, columns: Sequence[str], dataset: str) -> None:
    missing = [c for c in mapping.columns if c not in columns]
    if missing:
        have = ", ".join(repr(c) for c in columns) or "none"
        raise DataError(
            f"the mapping names column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(c) for c in missing)}, which dataset {dataset!r} does not have; "
            f"its columns are: {have}",
            kind="MappingError",
            details={"missing": missing, "columns": list(columns)},
        )


def contents(mapping: ChatMapping, batch: Batch) -> list[tuple[str, pa.Array]]:
    """Each role's content for every row of the batch, as a string array."""
    out = []
    for role, pieces in mapping.roles:
        parts: list[Any] = [batch.text(p.name) if isinstance(p, Column) else p for p in pieces]
        if len(parts) == 1 and not isinstance(parts[0], str):
            out.append((role, parts[0]))
            continue
        if all(isinstance(p, str) for p in parts):
            out.append((role, pa.array(["".join(parts)] * batch.num_rows, pa.string())))
            continue
        out.append((role, pc.binary_join_element_wise(*parts, "")))
    return out


# JSON escapes, in the order they must be applied (backslashes first), by byte value.
_ESCAPES = [
    (92, "\\", "\\\\"),
    (34, '"', '\\"'),
    (10, "\n", "\\n"),
    (13, "\r", "\\r"),
    (9, "\t", "\\t"),
]


def _data_bytes(array: pa.Array) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """The UTF-8 bytes of every value of a string array, without copying."""
    offsets = pa.Array.from_buffers(
        pa.int32(), len(array) + 1, [None, array.buffers()[1]], offset=array.offset
    )
    start, end = offsets[0].as_py(), offsets[-1].as_py()
    data = array.buffers()[2]
    if data is None or end == start:
        return np.zeros(0, np.uint8)
    return np.frombuffer(data, np.uint8, end - start, start)


def json_escape(array: pa.Array) -> pa.Array:
    """The JSON string body of each value (without the quotes). One scan of the bytes
    says which escapes the batch needs, so each pass over the text runs only if it must."""
    if pa.types.is_large_string(array.type):
        array = array.cast(pa.string())
    data = _data_bytes(array)
    controls = set(np.unique(data[data < 32]).tolist())
    if controls - {9, 10, 13}:  # other control characters: rare, the slow way
        return pa.array([json.dumps(v, ensure_ascii=False)[1:-1] for v in array.to_pylist()])
    for byte, raw, escaped in _ESCAPES:
        if byte in controls or (byte >= 32 and bool((data == byte).any())):
            array = pc.replace_substring(array, raw, escaped)
    return array


def render(roles: list[tuple[str, pa.Array]]) -> pa.Array:
    """One JSONL line per row: {"messages":[{"role":...,"content":...},...]}."""
    parts: list[Any] = []
    for i, (role, content) in enumerate(roles):
        opening = '{"messages":[' if i == 0 else "},"
        parts += [f'{opening}{{"role":"{role}","content":"', json_escape(content), '"']
    parts.append("}]}\n")
    # Adjacent literals are fine: the join takes any mix of scalars and arrays.
    return pc.binary_join_element_wise(*parts, "")
