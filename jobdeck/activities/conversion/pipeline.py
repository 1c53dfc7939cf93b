"""A conversion or a validation from start to end, run in a worker thread: read batches,
write them, and between batches publish progress and stop if cancelled.

Memory stays bounded whatever the file size: Arrow's CSV reader holds a few dozen small
blocks, two or three batches are being prepared, and each writer streams to its sink. The
figures that chose the block size, the threads and the allocator are in bench/conversion.py.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import pyarrow as pa

from jobdeck.activities.conversion.batches import Batch, check_types
from jobdeck.activities.conversion.chat import build_mapping, check_columns
from jobdeck.activities.conversion.errors import BlocksTooSmall, Cancelled, DataError
from jobdeck.activities.conversion.jsonreaders import JsonlReader
from jobdeck.activities.conversion.readers import Reader, open_reader
from jobdeck.activities.conversion.sniff import bad_encoding
from jobdeck.activities.conversion.validate import ReportBuilder
from jobdeck.activities.conversion.writers import (
    ChatWriter,
    CsvWriter,
    JsonlWriter,
    ParquetWriter,
    Sink,
    Writer,
)
from jobdeck.dataformats import DatasetFormat, OutputFormat


@dataclass
class Control:
    """What the activity and the conversion thread share: progress counters the thread
    updates, and the cancel flag the activity sets."""

    cancel: threading.Event = field(default_factory=threading.Event)
    rows: int = 0
    position: int = 0

    def checkpoint(self, rows: int, position: int) -> None:
        self.rows, self.position = rows, position
        if self.cancel.is_set():
            raise Cancelled


@dataclass
class ConversionPlan:
    source: Path
    name: str  # the source dataset's name, for messages
    input_format: DatasetFormat
    output_format: OutputFormat
    max_row_bytes: int
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    mapping: dict[str, Any] | None = None
    validation: bool = True
    model: str = ""
    epochs: int | None = None


@dataclass
class Outcome:
    rows_in: int
    rows_out: int
    size: int
    sha256: str
    columns: list[str]
    details: dict[str, Any]
    report: dict[str, Any] | None = None


def _writer(
    plan: ConversionPlan, reader: Reader, sink: Sink
) -> tuple[Writer, ReportBuilder | None]:
    needs_text = list(reader.columns)
    report = None
    if plan.output_format is OutputFormat.OPENAI_CHAT:
        mapping = build_mapping(plan.mapping or {})
        check_columns(mapping, reader.columns, plan.name)
        needs_text = mapping.columns
        report = ReportBuilder(plan.model, plan.epochs) if plan.validation else None
        writer: Writer = ChatWriter(sink, mapping, report)
    elif plan.output_format is OutputFormat.JSONL:
        writer = JsonlWriter(sink)
    elif plan.output_format is OutputFormat.CSV:
        writer = CsvWriter(sink)
    else:
        needs_text = []  # Parquet to Parquet keeps every type
        writer = ParquetWriter(sink)
    schema = getattr(reader, "schema", None)  # Parquet's, known before reading
    if schema is not None:
        check_types(schema, needs_text, plan.name)
    return writer, report


def _use_jemalloc() -> None:
    """Arrow's jemalloc pool hands freed buffers back sooner than its default (mimalloc):
    a worker's peak RSS in bench/conversion.py is ~40 MB lower with it. Process-wide, as
    Arrow's pool is; conversions are the worker's only Arrow users."""
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:  # a pyarrow built without jemalloc: keep its default
        pass


_use_jemalloc()

# Arrow's CSV reader holds a few dozen blocks in flight: small blocks keep a worker's memory
# low (measured in bench/conversion.py); a longer row makes it read again with larger ones.
CSV_BLOCK_BYTES = 512 * 1024
# With the validation report the tokenizer sets the pace, not the reader: smaller blocks
# cost no throughput there and keep ~25 MB less in flight (bench/conversion.py --validate).
REPORT_BLOCK_BYTES = 128 * 1024


def convert(plan: ConversionPlan, out: Path, control: Control) -> Outcome:
    reporting = plan.validation and plan.output_format is OutputFormat.OPENAI_CHAT
    block_bytes = REPORT_BLOCK_BYTES if reporting else CSV_BLOCK_BYTES
    try:
        return _convert(plan, out, control, min(block_bytes, plan.max_row_bytes))
    except BlocksTooSmall:
        return _convert(plan, out, control, plan.max_row_bytes)


def _convert(plan: ConversionPlan, out: Path, control: Control, block_bytes: int) -> Outcome:
    reader = open_reader(
        plan.source,
        plan.input_format,
        name=plan.name,
        max_row_bytes=plan.max_row_bytes,
        block_bytes=block_bytes,
        encoding=plan.encoding,
        delimiter=plan.delimiter,
        sheet=plan.sheet,
    )
    sink = Sink(out)
    try:
        batches = reader.batches()
        first = next(batches, None)
        if first is None or not first.num_rows:
            raise DataError(
                f"dataset {plan.name!r} has no rows to convert (a header at most); add rows "
                "under the header and upload it again"
            )
        writer, report = _writer(plan, reader, sink)
        if isinstance(writer, ChatWriter):
            _write_in_parallel(writer, chain([first], batches), reader, control)
        else:
            for batch in chain([first], batches):
                control.checkpoint(reader.rows, reader.position())
                writer.write(batch)
        control.checkpoint(reader.rows, reader.position())
        writer.close()
        return Outcome(
            rows_in=reader.rows,
            rows_out=writer.rows,
            size=sink.size,
            sha256=sink.sha256.hexdigest(),
            columns=list(reader.columns),
            details=reader.details,
            report=report.report() if report else None,
        )
    finally:
        sink.close()
        reader.close()


PREPARE_THREADS = 2  # CPU work that releases the GIL, beside Arrow's own CSV threads


def _write_in_parallel(
    writer: ChatWriter, batches: Iterator[Batch], reader: Reader, control: Control
) -> None:
    """Prepare batches in threads, write them in order; at most a few are in flight."""
    with ThreadPoolExecutor(PREPARE_THREADS, thread_name_prefix="convert") as pool:
        pending: deque[Future[Any]] = deque()
        for batch in batches:
            control.checkpoint(reader.rows, reader.position())
            pending.append(pool.submit(writer.prepare, batch))
            while len(pending) > PREPARE_THREADS:
                writer.commit(pending.popleft().result())
        while pending:
            writer.commit(pending.popleft().result())


def validate(
    path: Path, name: str, *, model: str, epochs: int | None, max_row_bytes: int, control: Control
) -> tuple[dict[str, Any], int]:
    """The validation report of an OpenAI chat JSONL file, and its number of lines read.
    Bad lines are what the report is for, so they are counted, not raised."""
    reader = JsonlReader(path, name, max_row_bytes=max_row_bytes)
    builder = ReportBuilder(model, epochs)
    try:
        for number, line in reader.lines():
            try:
                builder.add(number, json.loads(line))
            except UnicodeDecodeError as err:
                raise bad_encoding(path, "utf-8", err, number) from None
            except json.JSONDecodeError:
                builder.add_invalid(number)
            if number % 1000 == 0:
                control.checkpoint(builder.examples, reader.position())
        control.checkpoint(builder.examples, reader.position())
    finally:
        reader.close()
    return builder.report(), builder.examples
