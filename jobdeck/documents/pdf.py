"""PDF pages' text layers through pypdfium2 (PDFium, permissive licence; not PyMuPDF, AGPL).

PDFium is not thread-safe: every call into it holds one process-wide lock (per page), so
PDFs parsed by several threads of one process take turns (parse them in subprocesses to
use more cores); OCR, the slow part, runs outside the lock.

A page with no text layer but images is marked `needs_ocr`; with the `ocr` extra installed
and `ocr=True` it is read by RapidOCR instead.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import cache
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from jobdeck.documents.types import DocumentError, DocumentErrorCode, Page, ParsedDocument

PDFIUM_LOCK = threading.Lock()
_OCR_SCALE = 2.0  # 144 dpi: small print stays legible to the recognizer
_LOAD_ERRORS: dict[int, tuple[DocumentErrorCode, str]] = {
    pdfium_c.FPDF_ERR_PASSWORD: (
        "encrypted",
        "is password-protected; remove the password and upload it again",
    ),
    pdfium_c.FPDF_ERR_SECURITY: ("encrypted", "uses an unsupported security handler"),
    pdfium_c.FPDF_ERR_FORMAT: ("corrupt", "is damaged or truncated: it is not a readable PDF"),
    pdfium_c.FPDF_ERR_FILE: ("corrupt", "could not be opened as a PDF"),
}


def ocr_available() -> bool:
    """Whether the `ocr` extra (rapidocr-onnxruntime) is installed."""
    return importlib.util.find_spec("rapidocr_onnxruntime") is not None


@cache
def _ocr_engine() -> Any:
    from rapidocr_onnxruntime import RapidOCR  # the optional `ocr` extra

    return RapidOCR()


def _render(page: pdfium.PdfPage) -> Any:
    bitmap = page.render(scale=_OCR_SCALE)
    try:
        return bitmap.to_numpy().copy()  # BGR(A), as OpenCV-based RapidOCR expects
    finally:
        bitmap.close()


def _recognize(image: Any) -> str:
    result, _ = _ocr_engine()(image)
    return "\n".join(str(line[1]) for line in result or [])


def _has_images(page: pdfium.PdfPage) -> bool:
    return any(True for _ in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=3))


def _read_page(document: pdfium.PdfDocument, index: int, ocr: bool) -> tuple[Page, Any]:
    """The page, and its picture where it is to be OCRed (outside the lock)."""
    page = document[index]
    try:
        textpage = page.get_textpage()
        try:
            text = textpage.get_text_range(errors="replace")
        finally:
            textpage.close()
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
        if text.strip() or not _has_images(page):
            return Page(number=index + 1, text=text), None
        image = _render(page) if ocr else None
        return Page(number=index + 1, text="", needs_ocr=True), image
    finally:
        page.close()


def parse_pdf(path: Path, filename: str, *, max_pages: int, ocr: bool) -> ParsedDocument:
    with PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(path)
        except pdfium.PdfiumError as error:
            fallback: tuple[DocumentErrorCode, str] = (
                "corrupt",
                f"could not be read as a PDF ({error})",
            )
            code, what = _LOAD_ERRORS.get(
                -1 if error.err_code is None else error.err_code, fallback
            )
            raise DocumentError(code, f"{filename!r} {what}") from error
    try:
        with PDFIUM_LOCK:
            count = len(document)
            title = document.get_metadata_value("Title") or None
        if count == 0:
            raise DocumentError("corrupt", f"{filename!r} has no pages")
        if count > max_pages:
            raise DocumentError(
                "too_many_pages",
                f"{filename!r} has {count:,} pages; the most accepted is {max_pages:,}",
            )
        ocr = ocr and ocr_available()
        pages: list[Page] = []
        failed: dict[int, str] = {}
        for index in range(count):
            try:
                with PDFIUM_LOCK:  # per page: other threads' PDFs go on between pages
                    page, image = _read_page(document, index, ocr)
            except pdfium.PdfiumError as error:
                failed[index + 1] = f"page {index + 1} could not be read: {error}"
                continue
            if image is not None:
                recognized = _recognize(image)  # seconds per page: outside the lock
                if recognized.strip():
                    page = Page(number=page.number, text=recognized)
            pages.append(page)
        if not pages:
            raise DocumentError("corrupt", f"{filename!r}: none of its {count} pages could be read")
        return ParsedDocument(format="pdf", pages=pages, failed_pages=failed, title=title)
    finally:
        with PDFIUM_LOCK:
            document.close()
