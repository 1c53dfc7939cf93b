"""A dataset's rows as documents ("point a job at an existing dataset's text column"):
the dataset's columns, to check a job's before it starts, and its rows as (number, text,
title) in batches, read by the dataset readers (activities/conversion) in bounded memory.

Synchronous and CPU-bound: callers run these in a thread.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jobdeck.activities.conversion.errors import DataError
from jobdeck.activities.conversion.jsonreaders import JsonlReader
from jobdeck.activities.conversion.readers import Reader, open_reader
from jobdeck.dataformats import DatasetFormat

# JSON and JSONL name their columns only in their rows: the keys of this many first rows.
SAMPLE_ROWS = 1000
MAX_NAME = 255  # documents.filename
MAX_TITLE = 120
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Row:
    number: int  # 1, 2, ... in the file's order, the header not counted
    text: str
    title: str  # "" without a title column or with an empty cell


def open_dataset(path: Path, fmt: str, name: str, *, max_row_bytes: int) -> Reader:
    return open_reader(path, DatasetFormat(fmt), name=name, max_row_bytes=max_row_bytes)


def columns(reader: Reader) -> list[str]:
    """The dataset's columns: its header (CSV, TSV, XLSX) or schema (Parquet), or the keys
    of its first rows (JSON, JSONL)."""
    if reader.columns:
        return list(reader.columns)
    if isinstance(reader, JsonlReader):
        seen: dict[str, None] = {}
        for number, line in itertools.islice(reader.lines(), SAMPLE_ROWS):
            try:
                value = json.loads(line)
            except ValueError:
                raise DataError(
                    f"line {number} of dataset {reader.name!r} is not valid JSON"
                ) from None
            if isinstance(value, dict):
                seen.update(dict.fromkeys(value))
        return list(seen)
    first = next(reader.batches(), None)  # a JSON array: its first batch of rows
    return first.columns if first is not None else []


def rows(
    reader: Reader, dataset: str, text_column: str, title_column: str | None
) -> Iterator[list[Row]]:
    """The rows in batches. A row without the text column (a JSON object lacking the key)
    has empty text; a file whose header lacks it is refused (DataError, MappingError)."""
    number = 0
    for batch in reader.batches():
        if batch.arrow is not None:
            for field, column in (("textColumn", text_column), ("titleColumn", title_column)):
                if column is not None and column not in batch.columns:
                    raise missing_column(dataset, column, batch.columns, field)
        texts = batch.text(text_column).to_pylist()
        titles = batch.text(title_column).to_pylist() if title_column else [""] * len(texts)
        yield [
            Row(number + i + 1, text, title)
            for i, (text, title) in enumerate(zip(texts, titles, strict=True))
        ]
        number += batch.num_rows


def missing_column(dataset: str, column: str, available: list[str], field: str) -> DataError:
    known = ", ".join(repr(c) for c in available) or "none"
    return DataError(
        f"{field}: dataset {dataset!r} has no column {column!r}; its columns: {known}",
        kind="MappingError",
        details={"column": column, "columns": available},
    )


def document_name(dataset: str, number: int, title: str) -> str:
    """A row's document name: `<title> (<dataset> row <n>)`, or `<dataset> row <n>`. It
    ends in the row number, so it is unique in the dataset and never reads as a file
    extension (the parser would take `.pdf` at the end for a PDF)."""
    tail = f" row {number}"
    title = " ".join(_CONTROL.sub(" ", title).split())[:MAX_TITLE]
    if not title:
        return f"{dataset[: MAX_NAME - len(tail)]}{tail}"
    room = MAX_NAME - len(title) - len(tail) - 3  # " (" and ")"
    return f"{title} ({dataset[:room]}{tail})"
