"""Readers of binary formats: Parquet (batch by batch, a row group at most in memory) and
XLSX (openpyxl's streaming read-only mode)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from jobdeck.activities.conversion.batches import BATCH_ROWS, Batch
from jobdeck.activities.conversion.errors import DataError
from jobdeck.activities.conversion.sniff import check_not_empty, read_sample


class ParquetReader:
    def __init__(self, path: Path, name: str) -> None:
        check_not_empty(read_sample(path), name)
        try:
            self.file = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as err:
            raise DataError(
                f"dataset {name!r} is not a readable Parquet file ({err}); check that you "
                "uploaded the right file and that its format is right"
            ) from None
        self.name = name
        self.schema: pa.Schema = self.file.schema_arrow
        self.columns: list[str] = list(self.schema.names)
        self.total_rows = int(self.file.metadata.num_rows)
        self.size = path.stat().st_size
        self.details: dict[str, Any] = {"schema": {f.name: str(f.type) for f in self.schema}}
        self.rows = 0

    def position(self) -> int:
        if not self.total_rows:
            return 0
        return int(self.size * self.rows / self.total_rows)

    def batches(self) -> Iterator[Batch]:
        try:
            for record_batch in self.file.iter_batches(batch_size=BATCH_ROWS):
                self.rows += record_batch.num_rows
                yield Batch(record_batch.num_rows, arrow=record_batch)
        except (pa.ArrowException, OSError) as err:
            raise DataError(
                f"dataset {self.name!r} could not be read past row {self.rows}: {err}"
            ) from None

    def close(self) -> None:
        self.file.close()


def _cell(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


class XlsxReader:
    def __init__(self, path: Path, name: str, *, sheet: str | None) -> None:
        check_not_empty(read_sample(path), name)
        try:
            self.book = load_workbook(path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as err:
            raise DataError(
                f"dataset {name!r} is not a readable Excel .xlsx workbook ({err}); save it "
                "as .xlsx (Excel 2007 or later) and upload it again"
            ) from None
        names = self.book.sheetnames
        if sheet is not None and sheet not in names:
            self.book.close()
            raise DataError(
                f"dataset {name!r} has no sheet named {sheet!r}; its sheets are: {', '.join(names)}"
            )
        self.sheet = sheet or names[0]
        self.ws = self.book[self.sheet]
        self.name = name
        self.size = path.stat().st_size
        self.total_rows = int(self.ws.max_row or 0)  # from the sheet's declared dimension
        self.rows = 0
        self._values = self.ws.iter_rows(values_only=True)
        header = next((row for row in self._values if any(v is not None for v in row)), None)
        if header is None:
            self.book.close()
            raise DataError(
                f"sheet {self.sheet!r} of dataset {name!r} has no rows; put a header row "
                "and the data under it on the first sheet, or name the sheet to read"
            )
        while header and header[-1] is None:
            header = header[:-1]
        self.columns = [
            str(v) if v is not None else f"column_{i + 1}" for i, v in enumerate(header)
        ]
        self.details: dict[str, Any] = {"sheet": self.sheet}

    def position(self) -> int:
        if not self.total_rows:
            return 0
        return min(self.size, int(self.size * self.rows / self.total_rows))

    def batches(self) -> Iterator[Batch]:
        width = len(self.columns)
        records: list[dict[str, Any]] = []
        for row in self._values:
            if all(v is None for v in row):
                continue
            records.append({c: _cell(v) for c, v in zip(self.columns, row[:width], strict=False)})
            if len(records) == BATCH_ROWS:
                self.rows += len(records)
                yield Batch(len(records), records=records)
                records = []
        if records:
            self.rows += len(records)
            yield Batch(len(records), records=records)

    def close(self) -> None:
        self.book.close()
