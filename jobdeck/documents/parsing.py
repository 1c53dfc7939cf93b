"""File -> ParsedDocument for every format a collection accepts.

The format is read from the content first (magic bytes, the parts inside an Office zip, an
HTML root) and checked against the name, so an HTML page named .pdf is refused as such
rather than failing deep inside a PDF parser. Each parser returns pages of plain text:
PDF pages and slides and sheets are pages; DOCX, HTML and Markdown, which have none, are
cut at their headings, each part a "page" numbered in order with its heading path as
`section`; plain text is one page.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

from jobdeck.documents import markup, office, pdf
from jobdeck.documents.text import decode_text
from jobdeck.documents.types import DocumentError, ParsedDocument

FORMATS: tuple[str, ...] = ("pdf", "docx", "pptx", "xlsx", "html", "md", "txt")

# What a name's extension claims (the names a user gives files, lower-cased).
EXTENSIONS: dict[str, str] = {
    "pdf": "pdf",
    "docx": "docx",
    "pptx": "pptx",
    "xlsx": "xlsx",
    "html": "html",
    "htm": "html",
    "xhtml": "html",
    "md": "md",
    "markdown": "md",
    "txt": "txt",
    "text": "txt",
}
_BINARY_FORMATS = {"pdf", "docx", "pptx", "xlsx"}
_TEXT_FORMATS = {"html", "md", "txt"}
_OFFICE_PARTS = {
    "word/document.xml": "docx",
    "ppt/presentation.xml": "pptx",
    "xl/workbook.xml": "xlsx",
}
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the Compound File container of .doc/.xls/.ppt
# Magic numbers of common files that are no documents, named in the message.
_OTHER_BINARY = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
    b"\x7fELF": "an executable",
    b"MZ": "a Windows executable",
    b"Rar!": "a RAR archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
    b"PAR1": "a Parquet file",
}
_SNIFF_BYTES = 8192
_WHAT = {
    "pdf": "a PDF",
    "docx": "a Word document",
    "pptx": "a PowerPoint presentation",
    "xlsx": "an Excel workbook",
    "html": "an HTML page",
    "md": "Markdown text",
    "txt": "plain text",
}


def _suffix(filename: str) -> str:
    return filename.rpartition(".")[2].lower() if "." in filename else ""


def _claimed(filename: str) -> str | None:
    return EXTENSIONS.get(_suffix(filename))


def _sniff(path: Path, head: bytes, filename: str) -> str:
    """The format the bytes are, whatever the name says."""
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError) as error:
            raise DocumentError(
                "corrupt", f"{filename!r} is a damaged zip file: {error}"
            ) from error
        for part, fmt in _OFFICE_PARTS.items():
            if part in names:
                return fmt
        raise DocumentError(
            "unknown_format", f"{filename!r} is a zip archive, not a DOCX, PPTX or XLSX document"
        )
    if head.startswith(_OLE2):
        if _claimed(filename) in {"docx", "pptx", "xlsx"}:
            # Office keeps a password-protected DOCX/PPTX/XLSX inside this container.
            raise DocumentError(
                "encrypted",
                f"{filename!r} is password-protected; remove the password and upload it again",
            )
        raise DocumentError(
            "unknown_format",
            f"{filename!r} is a legacy Office file (.doc, .xls, .ppt); "
            "save it as DOCX, XLSX or PPTX",
        )
    for magic, what in _OTHER_BINARY.items():
        if head.startswith(magic):
            raise DocumentError("unknown_format", f"{filename!r} is {what}, not a document")
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DocumentError(
            "unknown_format", f"{filename!r} is binary data of no known document format"
        )
    text = decode_text(head, final=False).lstrip("\ufeff \t\r\n").lower()
    if text.startswith(("<!doctype html", "<html")) or (
        text.startswith("<") and any(tag in text[:2048] for tag in ("<head", "<body", "<html"))
    ):
        return "html"
    return "text"


def detect_format(path: Path, filename: str) -> str:
    """The document's format, from its content first and its name second. Raises
    DocumentError("empty" | "unknown_format" | "wrong_extension" | "encrypted" | "corrupt")."""
    with path.open("rb") as file:
        head = file.read(_SNIFF_BYTES)
    if not head:
        raise DocumentError("empty", f"{filename!r} is empty (0 bytes)")
    sniffed = _sniff(path, head, filename)
    claimed = _claimed(filename)
    if sniffed == "text":
        # Text says little about itself: the name picks Markdown; anything else reads as text.
        if claimed in _BINARY_FORMATS:
            raise DocumentError(
                "wrong_extension", f"{filename!r} is named .{claimed} but it is plain text"
            )
        return claimed if claimed in {"md", "html"} else "txt"
    if sniffed == "html":
        if claimed in _BINARY_FORMATS:
            raise DocumentError(
                "wrong_extension", f"{filename!r} is named .{claimed} but it is an HTML page"
            )
        return "md" if claimed == "md" else "html"  # Markdown may start with raw HTML
    if claimed is not None and claimed != sniffed:
        raise DocumentError(
            "wrong_extension",
            f"{filename!r} is named .{_suffix(filename)} but it is {_WHAT[sniffed]}",
        )
    return sniffed


def parse(
    path: Path, filename: str, *, max_pages: int, max_bytes: int, ocr: bool = False
) -> ParsedDocument:
    """Read one document (synchronous and CPU-bound: run it in a thread or subprocess).
    Raises DocumentError for a document that cannot be read at all; a page that cannot be
    read goes to `failed_pages`. `max_pages` bounds PDF pages, slides and sheets."""
    size = path.stat().st_size
    if size > max_bytes:
        raise DocumentError(
            "too_large",
            f"{filename!r} is {size:,} bytes; the largest document accepted is {max_bytes:,}",
        )
    fmt = detect_format(path, filename)
    if fmt == "pdf":
        return pdf.parse_pdf(path, filename, max_pages=max_pages, ocr=ocr)
    if fmt in _TEXT_FORMATS:
        text = decode_text(path.read_bytes(), final=True)
        readers: dict[str, Callable[[str], ParsedDocument]] = {
            "html": markup.parse_html,
            "md": markup.parse_markdown,
            "txt": markup.parse_text,
        }
        document = readers[fmt](text)
        if not document.pages:
            raise DocumentError("empty", f"{filename!r} has no text (only blank space or markup)")
        return document
    return office.parse_office(fmt, path, filename, max_pages=max_pages)
