"""Bytes -> text for the text formats (TXT, Markdown, HTML), as datasets read them: a
byte-order mark, else UTF-8 if the bytes are UTF-8, else charset-normalizer's best guess."""

from __future__ import annotations

import codecs

from charset_normalizer import from_bytes

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE, whose mark it starts with
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_GUESS_BYTES = 1024 * 1024  # charset-normalizer reads a sample; this bounds its time


def detect_encoding(data: bytes, *, final: bool) -> str:
    """The encoding to read `data` with; `final=False` when `data` is only a file's start
    (it may end in the middle of a character)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=final)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    best = from_bytes(data[:_GUESS_BYTES]).best()
    return "utf-8" if best is None else codecs.lookup(best.encoding).name


def decode_text(data: bytes, *, final: bool) -> str:
    """`data` as text; a byte no encoding reads becomes U+FFFD rather than failing the
    document, and line ends become "\\n"."""
    encoding = detect_encoding(data, final=final)
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(data, final=final)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.removeprefix("\ufeff")
