"""Writers of each output format, all into a Sink that hashes and counts what it writes,
so the output's SHA-256 and size need no second pass over the file."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from jobdeck.activities.conversion import chat
from jobdeck.activities.conversion.batches import Batch, as_text, finite, json_default
from jobdeck.activities.conversion.errors import DataError
from jobdeck.activities.conversion.validate import ReportBuilder


class Sink(io.RawIOBase):
    def __init__(self, path: Path) -> None:
        self._file = path.open("wb", buffering=1024 * 1024)
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.sha256.update(data)
        written = self._file.write(data)
        self.size += written
        return written

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        if not self._file.closed:
            self._file.flush()

    def close(self) -> None:
        super().close()
        self._file.close()


class Writer(Protocol):
    rows: int

    def write(self, batch: Batch) -> None: ...

    def close(self) -> None: ...


class JsonlWriter:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.rows = 0
        self._dumps = json.JSONEncoder(
            ensure_ascii=False, allow_nan=False, default=json_default, separators=(",", ":")
        ).encode

    def _line(self, row: dict[str, Any]) -> str:
        try:
            return self._dumps(row)
        except ValueError:  # NaN or infinity, which JSON has no word for
            return self._dumps(finite(row))

    def write(self, batch: Batch) -> None:
        lines = [self._line(row) for row in batch.rows()]
        self.sink.write(("\n".join(lines) + "\n").encode())
        self.rows += len(lines)

    def close(self) -> None:
        self.sink.close()


class CsvWriter:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.rows = 0
        self.header: list[str] | None = None

    def write(self, batch: Batch) -> None:
        text = io.StringIO()
        out = csv.writer(text, lineterminator="\n")
        if self.header is None:
            self.header = batch.columns
            out.writerow(self.header)
        elif extra := [c for c in batch.columns if c not in self.header]:
            raise DataError(
                f"row {self.rows + 1} onwards have column(s) {', '.join(map(repr, extra))} "
                "that the first rows did not have; CSV needs the same columns in every row: "
                "convert to jsonl instead"
            )
        for row in batch.rows():
            out.writerow([as_text(row.get(c)) for c in self.header])
        self.sink.write(text.getvalue().encode())
        self.rows += batch.num_rows

    def close(self) -> None:
        self.sink.close()


class ParquetWriter:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.rows = 0
        self._writer: Any = None  # a pyarrow.parquet.ParquetWriter once the schema is known

    def write(self, batch: Batch) -> None:
        try:
            table = batch.to_arrow()
            if self._writer is None:
                import pyarrow.parquet as pq  # only Parquet output needs it

                self._writer = pq.ParquetWriter(self.sink, table.schema, compression="zstd")
            elif table.schema != self._writer.schema:
                table = table.cast(self._writer.schema)
        except (pa.ArrowException, ValueError, TypeError) as err:
            raise DataError(
                f"rows {self.rows + 1} to {self.rows + batch.num_rows} do not fit the column "
                f"types of the rows before them ({err}); give each column one type, or "
                "convert to jsonl instead"
            ) from None
        self._writer.write_batch(table)
        self.rows += batch.num_rows

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.sink.close()


class ChatWriter:
    """OpenAI chat fine-tuning JSONL from a mapping; optionally checks every example for
    the validation report (the output's line numbers are its row numbers)."""

    def __init__(self, sink: Sink, mapping: chat.ChatMapping, report: ReportBuilder | None) -> None:
        self.sink = sink
        self.mapping = mapping
        self.report = report
        self.rows = 0

    def prepare(self, batch: Batch) -> tuple[Batch, pa.Array, list[tuple[str, pa.Array]]]:
        """The batch's lines, built with Arrow kernels that release the GIL: several
        batches can be prepared at once in threads; `commit` writes them in order."""
        roles = chat.contents(self.mapping, batch)
        return batch, chat.render(roles), roles

    def write(self, batch: Batch) -> None:
        self.commit(self.prepare(batch))

    def commit(self, prepared: tuple[Batch, pa.Array, list[tuple[str, pa.Array]]]) -> None:
        batch, lines, roles = prepared
        # The lines are contiguous in the array's data buffer: write it as it is.
        offsets = pa.Array.from_buffers(
            pa.int32(), len(lines) + 1, [None, lines.buffers()[1]], offset=lines.offset
        )
        start, end = offsets[0].as_py(), offsets[-1].as_py()
        self.sink.write(memoryview(lines.buffers()[2])[start:end])
        if self.report is not None:
            texts = [(role, content.to_pylist()) for role, content in roles]
            for i in range(batch.num_rows):
                messages = [{"role": role, "content": values[i]} for role, values in texts]
                self.report.add(self.rows + i + 1, {"messages": messages})
        self.rows += batch.num_rows

    def close(self) -> None:
        self.sink.close()
