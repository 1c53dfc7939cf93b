"""Looking at a text file before reading it: is it text at all, in which encoding, with
which delimiter; and, when a fast reader has refused a CSV file, finding the line at fault.
"""

from __future__ import annotations

import codecs
import csv
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charset_normalizer import from_bytes
from charset_normalizer.utils import is_multi_byte_encoding

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


def _settled_encoding(sample: bytes, name: str, given: str | None) -> str | None:
    """The encoding that needs no guess: `given` (checked to exist), a byte-order mark, or
    UTF-8 if the sample decodes as such; None if none. Binary content is refused here with
    a message saying what it looks like."""
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
        return None


def detect_encoding(sample: bytes, name: str, given: str | None) -> str:
    """The text encoding to read the file with: `given` if any (checked to exist), else
    a byte-order mark, else UTF-8 if the sample decodes as such, else charset-normalizer's
    best guess. Binary content is refused here with a message saying what it looks like."""
    if settled := _settled_encoding(sample, name, given):
        return settled
    best = from_bytes(sample).best()
    if best is None:
        raise _not_text(sample, name, "no text encoding decodes it")
    return str(best.encoding)


def choose_encoding(path: Path, sample: bytes, name: str, given: str | None) -> str:
    """The encoding to read a text file with, never a guess between code pages: `given`,
    a byte-order mark or UTF-8 as `detect_encoding` finds them; else the one reading of
    the whole file's bytes that looks like text where every other reads oddly. Where
    several read it as text (the bytes alone cannot tell cp1252 from cp1250), the file is
    refused naming them, with a line read each way: the user chooses."""
    if settled := _settled_encoding(sample, name, given):
        return settled
    scan = _scan(path)
    readings = _readings(scan, _multi_byte_guess(sample))
    if not readings:
        raise _not_text(sample, name, "no text encoding decodes it")
    if readings[0].oddities == 0 and all(r.oddities for r in readings[1:]):
        return readings[0].encodings[0]
    line, text, details = _candidates(scan, readings, None)
    raise DataError(f"dataset {name!r} is not UTF-8, and {text}", details={"line": line, **details})


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
    """A decoding failure, named by line, with the encodings its bytes may be in and how
    each reads the line: the user chooses (a guess among code pages is no answer)."""
    bad = err.object[err.start : err.start + 1].hex()
    scan = _scan(path, want=line)
    evidence = b"\n".join(seen.raw for seen in scan.lines)
    readings = _readings(scan, _multi_byte_guess(evidence))
    if not readings:
        return DataError(
            f"line {line} is not valid {encoding} (byte 0x{bad}), nor in any usual text "
            "encoding; save the file as UTF-8 and upload it again",
            details={"line": line, "encoding": encoding, "candidates": []},
        )
    _, text, details = _candidates(scan, readings, line)
    return DataError(
        f"line {line} is not valid {encoding} (byte 0x{bad}); {text}",
        details={"line": line, "encoding": encoding, **details},
    )


# Telling single-byte code pages apart. Every byte over 0x7f means a letter in most of
# them, so no detector can be sure from the bytes alone (charset-normalizer reads French
# cp1252 as cp1250 with full confidence). What can be told: which code pages read each of
# the file's bytes the same (one reading, whichever is named), and which readings look
# like no text (Cyrillic letters inside Latin words, symbols between letters).

# The code pages tried, most used first (the order breaks ties). ISO 8859-1 is left out:
# where it reads text at all, cp1252 reads it the same.
SINGLE_BYTE = (
    "cp1252",
    "cp1250",
    "cp1251",
    "iso8859-15",
    "iso8859-2",
    "cp1254",
    "cp1257",
    "cp1253",
    "cp1255",
    "cp1256",
    "cp1258",
    "koi8-r",
    "mac-roman",
)
_SHOWN = 4  # readings spelled out in a message, at most
_WINDOW = 2048  # bytes kept either side of a line's byte of interest
_SHOW_CHARS = 60  # characters of a line shown
_ASCII = bytes(range(128))
_LETTERS = re.compile(r"[^\W\d_]+")
# A non-ASCII character that is no letter, digit or space, between two letters ("Gr‰ße");
# apostrophes, hyphens and the Catalan middle dot do join letters in real words, and CJK
# punctuation ("。") is written with no space around it.
_SYMBOL_IN_WORD = re.compile(
    r"(?<=[^\W\d_])[^\x00-\x7f\w\s’‘·‐‑\u3000-\u303f\uff00-\uffef](?=[^\W\d_])"
)
_SCRIPTS = {
    "LATIN": "Latin",
    "CYRILLIC": "Cyrillic",
    "GREEK": "Greek",
    "HEBREW": "Hebrew",
    "ARABIC": "Arabic",
    "THAI": "Thai",
    "CJK": "CJK",  # one script here: Japanese writes kanji and kana in one word
    "HIRAGANA": "CJK",
    "KATAKANA": "CJK",
    "HANGUL": "CJK",
}


@dataclass
class _Line:
    number: int
    raw: bytes  # the line, or _WINDOW bytes either side of its byte of interest
    cut_before: bool
    cut_after: bool


@dataclass
class _Scan:
    high: bytes = b""  # every distinct byte over 0x7f in the file, in order
    lines: list[_Line] = field(default_factory=list)  # the first line each of those is on
    wanted: _Line | None = None  # the line asked for, if it has such a byte


def _scan(path: Path, want: int | None = None) -> _Scan:
    """One pass over the file in bounded reads: its bytes over 0x7f, the line each first
    appears on, and line `want` (ASCII lines, most of a file, cost a check each)."""
    scan = _Scan()
    seen: set[int] = set()
    number = 1
    with path.open("rb") as handle:
        while raw := handle.readline(SAMPLE_BYTES):
            if not raw.isascii():
                new = set(raw.translate(None, _ASCII)) - seen
                if new or (number == want and scan.wanted is None):
                    first = len(raw) - len(raw.lstrip(_ASCII))
                    at = min(raw.index(byte) for byte in new) if new else first
                    start, end = max(0, at - _WINDOW), at + _WINDOW
                    kept = _Line(number, raw[start:end], start > 0, end < len(raw.rstrip()))
                    if new:
                        seen |= new
                        scan.lines.append(kept)
                    if number == want and scan.wanted is None:
                        scan.wanted = kept
            number += raw.endswith(b"\n")
    scan.high = bytes(sorted(seen))
    return scan


@dataclass
class _Reading:
    encodings: list[str]  # code pages that read every byte of the file alike
    oddities: int  # characters that look like no text in the lines read


def _readings(scan: _Scan, multi_byte: str | None) -> list[_Reading]:
    """The distinct ways the file's bytes read as text, the likeliest first."""
    readings: dict[str, _Reading] = {}
    for encoding in SINGLE_BYTE:
        try:
            chars = scan.high.decode(encoding)
        except UnicodeDecodeError:
            continue  # a byte this code page leaves undefined
        if any(unicodedata.category(char) == "Cc" for char in chars):
            continue  # C1 control characters (ISO 8859 at 0x80-0x9f): no text has them
        if chars in readings:
            readings[chars].encodings.append(encoding)
        else:
            odd = sum(_oddities(line.raw.decode(encoding)) for line in scan.lines)
            readings[chars] = _Reading([encoding], odd)
    found = list(readings.values())
    if multi_byte:
        odd = sum(_oddities(_decode(line.raw, multi_byte)) for line in scan.lines)
        found.append(_Reading([multi_byte], odd))
    return sorted(found, key=lambda reading: reading.oddities)  # stable: ties keep order


def _multi_byte_guess(data: bytes) -> str | None:
    """charset-normalizer's guess where it is a multi-byte encoding (Shift JIS, GBK...),
    whose byte sequences it can check; its single-byte guesses are left out."""
    best = from_bytes(data).best()
    if best is None or not is_multi_byte_encoding(best.encoding):
        return None
    return codecs.lookup(best.encoding).name


def _decode(raw: bytes, encoding: str) -> str:
    return raw.decode(encoding, errors="replace")  # a window may cut a multi-byte character


def _oddities(text: str) -> int:
    """Characters that look like no text: replacement and private-use characters, a
    symbol between letters, a word mixing scripts ("Seсor") or with an accented capital
    after a small letter ("SeÒor"), a modifier or superscript among letters."""
    odd = len(_SYMBOL_IN_WORD.findall(text))
    odd += sum(1 for char in text if char == "\ufffd" or unicodedata.category(char) == "Co")
    for word in _LETTERS.findall(text):
        if word.isascii():
            continue
        scripts = set()
        for char in word:
            script = _SCRIPTS.get(unicodedata.name(char, "").split(" ", 1)[0])
            if script:
                scripts.add(script)
            elif len(word) > 1 and unicodedata.category(char) in ("Lm", "No"):
                odd += 1
        odd += len(scripts) > 1
        # Latin words have ASCII letters: "Ñúåøü" is Cyrillic read as cp1252.
        odd += scripts == {"Latin"} and len(word) > 2 and not any(c.isascii() for c in word)
        odd += sum(
            1
            for before, after in zip(word, word[1:], strict=False)
            if before.islower() and after.isupper() and not (before + after).isascii()
        )
    return odd


def _candidates(
    scan: _Scan, readings: list[_Reading], want: int | None
) -> tuple[int, str, dict[str, Any]]:
    """The line the readings are shown on (line `want` if they read it differently, else
    the first they do), the end of a message saying how each reads it and what to do, and
    details. Shown: the readings that look like text, else the likeliest few."""
    clean = [r for r in readings if r.oddities == 0]
    shown = (clean or readings)[:_SHOWN]
    names = [r.encodings[0] for r in shown]
    lines = ([scan.wanted] if scan.wanted else []) + scan.lines
    line = next(
        (seen for seen in lines if len({_decode(seen.raw, n) for n in names}) > 1),
        lines[0] if lines else _Line(1, b"", False, False),
    )
    texts = [_shown_text(line, name, names) for name in names]
    where = "it" if line.number == want else f"line {line.number}"
    if len(shown) == 1:
        how = "" if shown[0].oddities else " cleanly"
        clause = (
            f"of the usual encodings only {names[0]!r} reads its bytes{how}, and it reads "
            f"{where} as {texts[0]!r}. If that is right, set encoding to {names[0]!r}"
        )
    else:
        kind = "single-byte " if all(name in SINGLE_BYTE for name in names) else ""
        each = "; ".join(
            f"{name!r} {'reads it as' if i == 0 else 'as'} {text!r}"
            for i, (name, text) in enumerate(zip(names, texts, strict=True))
        )
        clause = (
            f"its bytes fit several {kind}encodings, which read {where} differently (the "
            f"bytes alone cannot tell which is right): {each}. Set encoding to the one that "
            "reads it right"
        )
    clause += ", or save the file as UTF-8 and upload it again"
    details = {
        "candidates": [r.encodings[0] for r in readings],
        "sameAs": {r.encodings[0]: r.encodings[1:] for r in readings if r.encodings[1:]},
        "readings": dict(zip(names, texts, strict=True)),
        "suggestedEncoding": names[0] if len(shown) == 1 else None,
    }
    return line.number, clause, details


def _shown_text(line: _Line, encoding: str, others: list[str]) -> str:
    """The line as `encoding` reads it, cut to _SHOW_CHARS around where the readings
    first differ."""
    text = _decode(line.raw, encoding).rstrip("\r\n")
    variants = [_decode(line.raw, other).rstrip("\r\n") for other in others]
    differ = next(
        (i for i, chars in enumerate(zip(*variants, strict=False)) if len(set(chars)) > 1), 0
    )
    start = max(0, differ - _SHOW_CHARS // 3)
    end = start + _SHOW_CHARS
    before = "…" if start > 0 or line.cut_before else ""
    after = "…" if end < len(text) or line.cut_after else ""
    return before + text[start:end] + after
