"""Readers of JSON formats: JSONL line by line, and one JSON array item by item (ijson),
each in bounded memory."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ijson

from jobdeck.activities.conversion.batches import BATCH_ROWS, Batch
from jobdeck.activities.conversion.errors import DataError
from jobdeck.activities.conversion.sniff import (
    bad_encoding,
    detect_encoding,
    read_sample,
    row_too_long,
)
from jobdeck.activities.conversion.textreaders import CountingFile


def _require_utf8(path: Path, name: str, fmt: str) -> None:
    sample = read_sample(path)
    enc = detect_encoding(sample, name, None)
    if enc not in ("utf-8", "utf-8-sig", "ascii"):
        raise DataError(
            f"dataset {name!r} is not UTF-8 (perhaps {enc}, a guess); {fmt} files must be "
            "UTF-8: save it as UTF-8 and upload it again",
            details={"suggestedEncoding": enc},
        )


class _ObjectReader:
    """What both JSON readers share: counting rows and learning columns batch by batch."""

    file: CountingFile
    columns: list[str]
    rows: int

    def _batch(self, records: list[dict[str, Any]]) -> Batch:
        batch = Batch(len(records), records=records)
        if not self.columns:
            self.columns = batch.columns
        self.rows += len(records)
        return batch

    def close(self) -> None:
        self.file.close()


class JsonlReader(_ObjectReader):
    def __init__(self, path: Path, name: str, *, max_row_bytes: int) -> None:
        _require_utf8(path, name, "JSONL")
        self.path, self.name, self.max_row_bytes = path, name, max_row_bytes
        self.file = CountingFile(path)
        self.columns: list[str] = []
        self.details: dict[str, Any] = {"encoding": "utf-8"}
        self.rows = 0
        self.line = 0
        self.consumed = 0  # bytes of the lines handed out (the file is read ahead)

    def position(self) -> int:
        return self.consumed

    def lines(self) -> Iterator[tuple[int, bytes]]:
        """(line number, line) for each non-blank line, each at most max_row_bytes."""
        buffered = io.BufferedReader(self.file, buffer_size=1024 * 1024)
        while line := buffered.readline(self.max_row_bytes + 1):
            self.line += 1
            self.consumed += len(line)
            if len(line) > self.max_row_bytes:
                raise row_too_long(self.line, self.max_row_bytes)
            if line.strip():
                yield self.line, line

    def batches(self) -> Iterator[Batch]:
        records: list[dict[str, Any]] = []
        for number, line in self.lines():
            try:
                value = json.loads(line)
            except UnicodeDecodeError as err:
                raise bad_encoding(self.path, "utf-8", err, number) from None
            except json.JSONDecodeError as err:
                raise DataError(
                    f"line {number} is not valid JSON: {err.msg} (column {err.colno}); each "
                    "line of a JSONL file must be one complete JSON object",
                    details={"line": number, "column": err.colno},
                ) from None
            if not isinstance(value, dict):
                raise DataError(
                    f"line {number} is a JSON {type(value).__name__}, not an object; each "
                    'line of a JSONL file must be one object like {"question": "..."}',
                    details={"line": number},
                )
            records.append(value)
            if len(records) == BATCH_ROWS:
                yield self._batch(records)
                records = []
        if records:
            yield self._batch(records)


class JsonArrayReader(_ObjectReader):
    def __init__(self, path: Path, name: str, *, max_row_bytes: int) -> None:
        _require_utf8(path, name, "JSON")
        first = read_sample(path).lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        if first != b"[":
            found = first.decode("utf-8", "replace") or "nothing"
            raise DataError(
                f"dataset {name!r} must be one JSON array of objects, but it starts with "
                f"{found!r}; for one object per line use format jsonl"
            )
        self.name, self.max_row_bytes = name, max_row_bytes
        self.file = CountingFile(path)
        self.file.max_ahead = max_row_bytes + 1024 * 1024  # ijson reads ahead a little
        self.columns: list[str] = []
        self.details: dict[str, Any] = {"encoding": "utf-8"}
        self.rows = 0

    def position(self) -> int:
        return self.file.position

    def batches(self) -> Iterator[Batch]:
        records: list[dict[str, Any]] = []
        items = ijson.items(self.file, "item", use_float=True)
        while True:
            try:
                value = next(items)
            except StopIteration:
                break
            except DataError:
                raise DataError(
                    f"item {self.rows + len(records) + 1} of the array is larger than the "
                    f"limit of {self.max_row_bytes // 1024:,} KiB for one row",
                    details={"item": self.rows + len(records) + 1},
                ) from None
            except ijson.JSONError as err:
                after = self.rows + len(records)
                raise DataError(
                    f"invalid JSON after item {after} of the array (near byte "
                    f"{self.file.position:,}): {str(err).splitlines()[0]}",
                    details={"item": after + 1},
                ) from None
            self.file.mark = self.file.position
            if not isinstance(value, dict):
                raise DataError(
                    f"item {self.rows + len(records) + 1} of the array is a JSON "
                    f"{type(value).__name__}, not an object; the array must hold objects"
                )
            records.append(value)
            if len(records) == BATCH_ROWS:
                yield self._batch(records)
                records = []
        if records:
            yield self._batch(records)
