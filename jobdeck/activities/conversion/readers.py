"""Opening a dataset file with the reader its format needs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from jobdeck.activities.conversion.batches import Batch
from jobdeck.activities.conversion.jsonreaders import JsonArrayReader, JsonlReader
from jobdeck.activities.conversion.textreaders import CsvReader
from jobdeck.dataformats import DatasetFormat


class Reader(Protocol):
    columns: list[str]  # known once open (JSON, JSONL: the keys of the first rows)
    details: dict[str, Any]  # what reading found out: encoding, delimiter, sheet, schema
    rows: int  # rows read so far

    def batches(self) -> Iterator[Batch]: ...

    def position(self) -> int:
        """Bytes of the file read so far (estimated for Parquet and XLSX)."""
        ...

    def close(self) -> None: ...


def open_reader(
    path: Path,
    fmt: DatasetFormat,
    *,
    name: str,
    max_row_bytes: int,
    block_bytes: int | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
) -> Reader:
    if fmt in (DatasetFormat.CSV, DatasetFormat.TSV):
        return CsvReader(
            path,
            name,
            tsv=fmt is DatasetFormat.TSV,
            encoding=encoding,
            delimiter=delimiter,
            max_row_bytes=max_row_bytes,
            block_bytes=block_bytes or max_row_bytes,
        )
    if fmt is DatasetFormat.JSONL:
        return JsonlReader(path, name, max_row_bytes=max_row_bytes)
    if fmt is DatasetFormat.JSON:
        return JsonArrayReader(path, name, max_row_bytes=max_row_bytes)
    # Imported when needed: each costs a worker memory it need not hold otherwise.
    if fmt is DatasetFormat.PARQUET:
        from jobdeck.activities.conversion.binreaders import ParquetReader

        return ParquetReader(path, name)
    from jobdeck.activities.conversion.binreaders import XlsxReader

    return XlsxReader(path, name, sheet=sheet)
