"""DOCX (python-docx), PPTX (python-pptx) and XLSX (openpyxl) to pages of text.

A DOCX is cut at its headings (each part a page with its heading path); a slide is a page
with its title as section; a sheet is a page, its rows one line each, cells tab-separated.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jobdeck.documents.sections import SectionWriter
from jobdeck.documents.types import DocumentError, Page, ParsedDocument


def parse_office(fmt: str, path: Path, filename: str, *, max_pages: int) -> ParsedDocument:
    with _PAUSE:
        return _parse(fmt, path, filename, max_pages)


class _CollectorPause:
    """Automatic garbage collection paused while any thread reads an Office file.

    python-docx and python-pptx hold a file's parts in a package that each part points
    back at: a reference cycle around every part's lxml tree, so only the cycle
    collector frees them. Read with collection running, a file's objects age into the
    oldest generation before the file is dropped, and a busy worker collects that one
    rarely (a full collection waits until a quarter as many new objects as it already
    holds have survived), so the trees' native memory piled up: the worker's RSS grew
    ~100 MB over the 2,000 DOCX files of a 10,000-document batch (bench/documents.py
    --rss-docs). Paused, the objects stay in the youngest generation, and collecting only
    that one afterwards (cheap: it holds just what was made meanwhile) frees them at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readers = 0
        self._resume = False  # whether collection was on when the first reader paused it

    def __enter__(self) -> None:
        with self._lock:
            if self._readers == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._readers += 1

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._readers -= 1
            resume = self._readers == 0 and self._resume
            if resume:
                gc.enable()
        if resume:  # outside the lock: a finalizer run by the collection may read a file
            gc.collect(0)


_PAUSE = _CollectorPause()


def _parse(fmt: str, path: Path, filename: str, max_pages: int) -> ParsedDocument:
    try:
        opened = _OPENERS[fmt](path)
    except DocumentError:
        raise
    except Exception as error:  # a damaged part surfaces as any of a dozen errors
        raise DocumentError(
            "corrupt",
            f"{filename!r} is a damaged {fmt.upper()} file: {type(error).__name__}: {error}",
        ) from error
    return _READERS[fmt](opened, filename, max_pages)


def _open_docx(path: Path) -> Any:
    import docx

    return docx.Document(str(path))


def _open_pptx(path: Path) -> Any:
    import pptx

    return pptx.Presentation(str(path))


def _open_xlsx(path: Path) -> Any:
    import openpyxl

    return openpyxl.load_workbook(path, read_only=True, data_only=True)


def _cells_text(row_cells: list[Any]) -> str:
    seen: set[int] = set()
    values = []
    for cell in row_cells:
        if id(cell._tc) in seen:  # a merged cell is listed once per grid column it spans
            continue
        seen.add(id(cell._tc))
        values.append(cell.text.strip())
    return "\t".join(values)


def _heading_level(paragraph: Any) -> int | None:
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    if name == "Title":
        return 1
    if name.startswith("Heading "):
        level = name.removeprefix("Heading ").strip()
        return int(level) if level.isdigit() else None
    return None


def _read_docx(document: Any, filename: str, max_pages: int) -> ParsedDocument:
    from docx.table import Table

    writer = SectionWriter()
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                writer.line(_cells_text(list(row.cells)))
            continue
        text = block.text
        level = _heading_level(block)
        if level is not None and text.strip():
            writer.heading(level, text.strip())
        writer.line(text)
    title = document.core_properties.title or None
    return ParsedDocument(format="docx", pages=writer.pages(), title=title)


def _shape_texts(shapes: Any) -> Iterator[str]:
    for shape in shapes:
        if shape.shape_type is not None and getattr(shape, "shapes", None) is not None:
            yield from _shape_texts(shape.shapes)  # a group
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            yield shape.text_frame.text
        elif getattr(shape, "has_table", False) and shape.has_table:
            for row in shape.table.rows:
                yield "\t".join(cell.text.strip() for cell in row.cells)


def _read_pptx(presentation: Any, filename: str, max_pages: int) -> ParsedDocument:
    slides = list(presentation.slides)
    _check_pages(len(slides), "slides", filename, max_pages)
    pages = []
    for number, slide in enumerate(slides, start=1):
        texts = [text for text in _shape_texts(slide.shapes) if text.strip()]
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text
            if notes.strip():
                texts.append(notes)
        title_shape = slide.shapes.title
        title = title_shape.text.strip() if title_shape is not None else ""
        text = "\n".join(texts).replace("\x0b", "\n")  # a soft line break inside a text box
        pictures = any(shape.shape_type == 13 for shape in slide.shapes)  # MSO_SHAPE_TYPE.PICTURE
        pages.append(
            Page(number=number, text=text, needs_ocr=not text and pictures, section=title or None)
        )
    title = presentation.core_properties.title or None
    return ParsedDocument(format="pptx", pages=pages, title=title)


def _read_xlsx(workbook: Any, filename: str, max_pages: int) -> ParsedDocument:
    try:
        sheets = [sheet for sheet in workbook.worksheets if hasattr(sheet, "iter_rows")]
        _check_pages(len(sheets), "sheets", filename, max_pages)
        pages = []
        for number, sheet in enumerate(sheets, start=1):
            lines = []
            for row in sheet.iter_rows(values_only=True):
                values = ["" if value is None else str(value) for value in row]
                while values and not values[-1]:
                    values.pop()
                if values:
                    lines.append("\t".join(values))
            pages.append(Page(number=number, text="\n".join(lines), section=sheet.title))
        return ParsedDocument(format="xlsx", pages=pages, title=workbook.properties.title or None)
    except DocumentError:
        raise
    except Exception as error:  # a damaged sheet is found only when it is read
        raise DocumentError(
            "corrupt", f"{filename!r} is a damaged XLSX file: {type(error).__name__}: {error}"
        ) from error
    finally:
        workbook.close()


def _check_pages(count: int, what: str, filename: str, max_pages: int) -> None:
    if count > max_pages:
        raise DocumentError(
            "too_many_pages",
            f"{filename!r} has {count:,} {what}; the most accepted is {max_pages:,}",
        )


_OPENERS = {"docx": _open_docx, "pptx": _open_pptx, "xlsx": _open_xlsx}
_READERS = {"docx": _read_docx, "pptx": _read_pptx, "xlsx": _read_xlsx}
