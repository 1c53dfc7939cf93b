"""Looking at a text file before reading it: is it text at all, in which encoding, with
which delimiter; and, when a fast reader has refused a CSV file, finding the line at fault.
"""

from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass
from pathlib import Path

from charset_normalizer import from_bytes

from jobdeck.activities.conversion.errors import DataError

SAMPLE_BYTES = 64 * 1024

# A file that starts like one of these is not text, whatever its name says.
_MAGIC = {
    b"PK\x03\x04": "a ZIP archive (an .xlsx workbook is one: upload it as format xlsx)",
    b"PAR1": "a Parquet file (upload it as format parquet)",
    b"\x89PNG": "a PNG image",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive (decompress it first)",
}
_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]
_CONTROL = set(range(0, 9)) | {11, 12} | set(range(14, 32))


def read_sample(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(SAMPLE_BYTES)


def check_not_empty(sample: bytes, name: str) -> None:
    if not sample:
        raise DataError(
            f"dataset {name!r} is empty (0 bytes): upload a file with a header and rows",
            details={"sizeBytes": 0},
        )


def _not_text(sample: bytes, name: str, why: str) -> DataError:
    return DataError(
        f"dataset {name!r} does not look like a text file ({why}); check that you uploaded "
        "the right file and that its format is right",
        details={"firstBytes": sample[:16].hex()},
    )


def detect_encoding(sample: bytes, name: str, given: str | None) -> str:
    """The text encoding to read the file with: `given` if any (checked to exist), else
    a byte-order mark, else UTF-8 if the sample decodes as such, else charset-normalizer's
    best guess. Binary content is refused here with a message saying what it looks like."""
    check_not_empty(sample, name)
    for magic, what in _MAGIC.items():
        if sample.startswith(magic):
            raise _not_text(sample, name, f"it starts like {what}")
    if given:
        return codecs.lookup(given).name
    for bom, encoding in _BOMS:
        if sample.startswith(bom):
            return encoding
    controls = sum(1 for byte in sample if byte in _CONTROL)
    if b"\x00" in sample or controls > len(sample) // 100:
        raise _not_text(sample, name, f"{controls} control bytes in its first {len(sample)}")
    try:
        # final=False: the sample may end in the middle of a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    best = from_bytes(sample).best()
    if best is None:
        raise _not_text(sample, name, "no text encoding decodes it")
    return str(best.encoding)


def guess_encoding(data: bytes) -> str | None:
    """charset-normalizer's guess for some bytes, for an error message."""
    best = from_bytes(data).best()
    return str(best.encoding) if best is not None else None


def detect_delimiter(text: str, given: str | None, default: str) -> str:
    if given:
        return given
    try:
        return csv.Sniffer().sniff(text, delimiters=",;\t|").delimiter
    except csv.Error:
        return default  # one column, or too little to tell: the format's own delimiter


@dataclass
class CsvDialect:
    encoding: str
    delimiter: str
    quotechar: str = '"'


def diagnose_csv(path: Path, dialect: CsvDialect, max_row_bytes: int) -> DataError | None:
    """Find the first line at fault in a CSV file that the fast reader refused or doubts,
    with Python's strict csv reader (slow, but it knows line numbers); None if it finds
    nothing wrong."""
    if bad := _first_undecodable_line(path, dialect.encoding, max_row_bytes):
        return bad
    # The limit is process-wide; raising it to the row limit keeps memory bounded still.
    csv.field_size_limit(max(csv.field_size_limit(), max_row_bytes))
    text = path.open(encoding=dialect.encoding, newline="")
    reader = csv.reader(text, delimiter=dialect.delimiter, strict=True)
    width: int | None = None
    line = 1
    try:
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            if sum(len(field) for field in row) > max_row_bytes:
                return row_too_long(line, max_row_bytes)
            if width is None:
                width = len(row)
            elif row and len(row) != width:
                return DataError(
                    f"line {line} has {len(row)} fields but the header has {width}: check "
                    f"its delimiters ({dialect.delimiter!r}) and quotes",
                    details={"line": line},
                )
    except UnicodeDecodeError as err:
        return bad_encoding(path, dialect.encoding, err, line)
    except csv.Error as err:
        problem = str(err)
        if "field limit" in problem:
            return row_too_long(line, max_row_bytes)
        if "end of data" in problem or "EOF" in problem:
            problem = "a quoted field is never closed (unbalanced quotes)"
        return DataError(
            f"malformed CSV in the record that starts on line {line}: {problem}; check its quotes",
            details={"line": line},
        )
    finally:
        text.close()
    return None


def _first_undecodable_line(path: Path, encoding: str, chunk: int) -> DataError | None:
    """Decode line by line, so an error names the line a person sees in an editor
    (a buffered text reader fails a whole chunk ahead)."""
    if encoding.startswith(("utf-16", "utf-32")):
        return None  # their line breaks are not the byte 0x0a; the csv pass reports these
    decoder = codecs.getincrementaldecoder(encoding)()
    number = 1
    with path.open("rb") as handle:
        # Bounded reads: a line may be longer than memory should hold.
        while raw := handle.readline(chunk):
            try:
                decoder.decode(raw)
            except UnicodeDecodeError as err:
                return bad_encoding(path, encoding, err, number)
            number += raw.endswith(b"\n")
    return None


def row_too_long(line: int, max_row_bytes: int) -> DataError:
    return DataError(
        f"line {line} is longer than the limit of {max_row_bytes // 1024:,} KiB for one row; "
        "split it, or check that the file has line breaks where rows end",
        details={"line": line, "maxRowBytes": max_row_bytes},
    )


def bad_encoding(path: Path, encoding: str, err: UnicodeDecodeError, line: int) -> DataError:
    """A decoding failure, named by line, with the encoding the bytes look like."""
    with path.open("rb") as handle:
        sample = handle.read(4 * SAMPLE_BYTES)
    guess = guess_encoding(sample)
    hint = f"; it looks like {guess}: set encoding to {guess!r}" if guess else ""
    bad = err.object[err.start : err.start + 1].hex()
    return DataError(
        f"line {line} is not valid {encoding} (byte 0x{bad}){hint}, or save the file as "
        "UTF-8 and upload it again",
        details={"line": line, "encoding": encoding, "suggestedEncoding": guess},
    )
