"""A batch of rows as readers hand them to writers: Arrow columns (CSV, Parquet) or
Python records (JSON, JSONL, XLSX), with the conversions writers need from either."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from jobdeck.activities.conversion.errors import DataError

BATCH_ROWS = 10_000

_SUPPORTED = (
    "strings, numbers, booleans, dates and times, and lists or structs of them; "
    "drop or re-encode the column (e.g. as base64 text) and upload the file again"
)


def _is_binary(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
        or pa.types.is_binary_view(t)
    )


def unsupported(t: pa.DataType) -> bool:
    """Types that have no faithful text or JSON form."""
    if _is_binary(t) or pa.types.is_union(t):
        return True
    if pa.types.is_dictionary(t):
        return unsupported(t.value_type)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return unsupported(t.value_type)
    if pa.types.is_struct(t):
        return any(unsupported(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_map(t):
        return unsupported(t.key_type) or unsupported(t.item_type)
    return False


def check_types(schema: pa.Schema, columns: Sequence[str], dataset: str) -> None:
    for name in columns:
        field = schema.field(name)
        if unsupported(field.type):
            raise DataError(
                f"column {name!r} of dataset {dataset!r} has type {field.type}, which cannot "
                f"be converted to text or JSON; supported types are {_SUPPORTED}",
                kind="UnsupportedType",
                details={"column": name, "type": str(field.type)},
            )


def json_default(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)  # a float would lose digits
    if isinstance(value, bytes):
        raise TypeError("bytes")
    return str(value)


def finite(value: Any) -> Any:
    """JSON has no NaN or infinity: they become null (as pandas means by NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def as_text(value: Any) -> str:
    """One cell as text, for chat content and CSV cells."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(finite(value), ensure_ascii=False, default=json_default)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _arrow_text(array: pa.Array) -> pa.Array:
    t = array.type
    if pa.types.is_dictionary(t):
        array = array.dictionary_decode()
        t = array.type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        if pa.types.is_nested(t):
            return pa.array([as_text(v) for v in array.to_pylist()], pa.string())
        array = pc.cast(array, pa.string())
    return pc.fill_null(array, "") if array.null_count else array


@dataclass
class Batch:
    num_rows: int
    arrow: pa.RecordBatch | None = None
    records: list[dict[str, Any]] | None = None

    @property
    def columns(self) -> list[str]:
        if self.arrow is not None:
            return list(self.arrow.schema.names)
        seen: dict[str, None] = {}
        for record in self.records or []:
            seen.update(dict.fromkeys(record))
        return list(seen)

    def rows(self) -> list[dict[str, Any]]:
        if self.arrow is not None:
            rows: list[dict[str, Any]] = self.arrow.to_pylist()
            return rows
        return self.records or []

    def text(self, column: str) -> pa.Array:
        """A column as non-null strings (missing and null cells are empty strings)."""
        if self.arrow is not None:
            return _arrow_text(self.arrow.column(column))
        return pa.array([as_text(r.get(column)) for r in self.records or []], pa.string())

    def to_arrow(self) -> pa.RecordBatch:
        if self.arrow is not None:
            return self.arrow
        return pa.RecordBatch.from_pylist([finite(r) for r in self.records or []])
