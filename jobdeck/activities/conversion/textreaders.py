"""The CSV and TSV reader (Arrow's multithreaded parser, every column as text), and the
counting file it reads through."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv

from jobdeck.activities.conversion.batches import Batch
from jobdeck.activities.conversion.errors import BlocksTooSmall, DataError
from jobdeck.activities.conversion.sniff import (
    CsvDialect,
    choose_encoding,
    detect_delimiter,
    diagnose_csv,
    read_sample,
    row_too_long,
)

_ASCII_INCOMPATIBLE = ("utf-16", "utf-32")


class CountingFile(io.RawIOBase):
    """A file that counts the bytes read and the quote characters in them, and refuses
    to read far past `mark` (so one huge item cannot fill memory)."""

    def __init__(self, path: Path, quote: bytes | None = None) -> None:
        self._file = path.open("rb")
        self.position = 0
        self.quotes = 0
        self._quote = quote
        self.mark = 0
        self.max_ahead: int | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self.position += len(data)
        if self._quote:
            self.quotes += data.count(self._quote)
        if self.max_ahead is not None and self.position - self.mark > self.max_ahead:
            raise DataError("item too large")  # replaced by the reader's own message
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


class CsvReader:
    def __init__(
        self,
        path: Path,
        name: str,
        *,
        tsv: bool,
        encoding: str | None,
        delimiter: str | None,
        max_row_bytes: int,
        block_bytes: int,
    ) -> None:
        sample = read_sample(path)
        enc = choose_encoding(path, sample, name, encoding)
        text = codecs.getincrementaldecoder(enc)(errors="replace").decode(sample, final=False)
        text = text.lstrip("\ufeff")
        delim = detect_delimiter(text, delimiter, "\t" if tsv else ",")
        self.path, self.name, self.max_row_bytes = path, name, max_row_bytes
        self.block_bytes = block_bytes
        self.dialect = CsvDialect(encoding=enc, delimiter=delim)
        header = next(iter(_csv_rows(text, delim)), [])
        self.columns: list[str] = header
        self.details: dict[str, Any] = {"encoding": enc, "delimiter": delim}
        # Quote parity is only meaningful where a quote is always the byte 0x22.
        quote = None if enc.startswith(_ASCII_INCOMPATIBLE) else b'"'
        self.file = CountingFile(path, quote)
        self.rows = 0

    def position(self) -> int:
        return self.file.position

    def _fail(self, err: Exception) -> Exception:
        if "straddling" in str(err) and self.block_bytes < self.max_row_bytes:
            return BlocksTooSmall()
        found = diagnose_csv(self.path, self.dialect, self.max_row_bytes)
        if found is not None:
            return found
        if "straddling" in str(err):
            return row_too_long(self.rows + 2, self.max_row_bytes)
        return DataError(f"dataset {self.name!r} is not readable as CSV: {err}")

    def batches(self) -> Iterator[Batch]:
        enc = self.dialect.encoding
        try:
            reader = pcsv.open_csv(
                self.file,
                read_options=pcsv.ReadOptions(
                    # A row may straddle one block boundary: rows up to a block always fit.
                    block_size=self.block_bytes,
                    encoding="utf8" if enc in ("utf-8", "utf-8-sig") else enc,
                ),
                parse_options=pcsv.ParseOptions(
                    delimiter=self.dialect.delimiter, newlines_in_values=True
                ),
                # Every column as text: inference would turn "007" into 7.
                convert_options=pcsv.ConvertOptions(
                    column_types={c: pa.string() for c in self.columns},
                    strings_can_be_null=False,
                ),
            )
            self.columns = list(reader.schema.names)
            for record_batch in reader:
                self.rows += record_batch.num_rows
                yield Batch(record_batch.num_rows, arrow=record_batch)
        except (pa.ArrowException, UnicodeDecodeError) as err:
            raise self._fail(err) from None
        # Arrow reads an unclosed quote to the end of the file without complaint; an odd
        # number of quotes is the sign, and the strict reader then finds the line.
        if self.file.quotes % 2:
            found = diagnose_csv(self.path, self.dialect, self.max_row_bytes)
            if found is not None:
                raise found

    def close(self) -> None:
        self.file.close()


def _csv_rows(text: str, delimiter: str) -> Iterator[list[str]]:
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
