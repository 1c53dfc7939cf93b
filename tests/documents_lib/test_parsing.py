"""Each parser on files written by the library that writes the format, and each bad input
about a file's content with what it gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobdeck.documents.parsing import FORMATS, detect_format, parse
from jobdeck.documents.types import DocumentError, ParsedDocument
from tests.documents_lib import samples

LIMITS = {"max_pages": 2000, "max_bytes": 100 * 1024**2}


def read(
    path: Path, name: str | None = None, *, ocr: bool = False, **limits: int
) -> ParsedDocument:
    return parse(path, name or path.name, **{**LIMITS, **limits}, ocr=ocr)


def refused(path: Path, name: str | None = None, **limits: int) -> DocumentError:
    with pytest.raises(DocumentError) as caught:
        read(path, name, **limits)
    return caught.value


def test_formats_are_the_issue_list() -> None:
    assert set(FORMATS) == {"pdf", "docx", "pptx", "xlsx", "html", "md", "txt"}


def test_pdf_pages_keep_their_numbers_and_text(tmp_path: Path) -> None:
    path = samples.pdf(tmp_path / "report.pdf", ["First page words", "Second page words"])
    document = read(path)
    assert document.format == "pdf"
    assert [page.number for page in document.pages] == [1, 2]
    assert [page.text for page in document.pages] == ["First page words", "Second page words"]
    assert document.title == "Sample PDF"
    assert document.characters == len("First page words") + len("Second page words")
    assert document.failed_pages == {}


def test_image_only_pdf_page_needs_ocr(tmp_path: Path) -> None:
    path = samples.pdf(tmp_path / "scan.pdf", ["typed text", None, ""])
    document = read(path)
    assert document.needs_ocr_pages == [2]  # page 3 is blank: nothing to OCR on it
    assert document.pages[1].text == ""
    assert [page.needs_ocr for page in document.pages] == [False, True, False]


def test_ocr_reads_an_image_only_page_when_the_extra_is_installed(tmp_path: Path) -> None:
    from jobdeck.documents.pdf import ocr_available

    if not ocr_available():
        pytest.skip("the ocr extra (rapidocr-onnxruntime) is not installed")
    path = samples.pdf(tmp_path / "scan.pdf", ["typed text", None])
    document = read(path, ocr=True)
    assert document.needs_ocr_pages == []
    assert document.pages[1].text == "SCANNED INVOICE 42"  # drawn by Pillow in the sample
    assert read(path).needs_ocr_pages == [2]  # without ocr=True the page only says so


def test_docx_headings_become_section_paths(tmp_path: Path) -> None:
    document = read(samples.docx_file(tmp_path / "handbook.docx"))
    assert document.format == "docx"
    assert document.title == "Handbook"
    assert [(page.number, page.section) for page in document.pages] == [
        (1, None),
        (2, "Install"),
        (3, "Install > Linux"),
        (4, "Usage"),
    ]
    linux = document.pages[2].text
    assert "Run the shell script as root." in linux
    assert "Debian\tjobdeck.deb" in linux  # the table, one row a line, in body order


def test_pptx_slide_per_page_with_title_and_notes(tmp_path: Path) -> None:
    document = read(samples.pptx_file(tmp_path / "deck.pptx"))
    assert document.format == "pptx"
    assert [page.section for page in document.pages] == ["Roadmap", "Risks", None]
    assert document.pages[0].text == "Roadmap\nShip collections in March."
    assert "A free text box" in document.pages[2].text
    assert "Speaker notes here" in document.pages[2].text


def test_xlsx_sheet_per_page_rows_as_lines(tmp_path: Path) -> None:
    document = read(samples.xlsx_file(tmp_path / "prices.xlsx"))
    assert document.format == "xlsx"
    assert [(page.section, page.text) for page in document.pages] == [
        ("Prices", "item\tprice\napple\t1.5\npear\t2"),
        ("Notes", "Prices include VAT."),
    ]


def test_html_drops_scripts_styles_and_navigation(tmp_path: Path) -> None:
    path = tmp_path / "guide.html"
    path.write_text(
        "<!DOCTYPE html><html><head><title>Guide</title><style>p{color:red}</style></head>"
        "<body><nav><a href='/'>Home</a> | <a href='/about'>About</a></nav>"
        "<script>var secret = 1;</script><h1>Install</h1><p>Get the <b>installer</b>.</p>"
        "<h2>Linux</h2><ul><li>apt install jobdeck</li><li>jobdeck up</li></ul>"
        "<noscript>enable js</noscript></body></html>"
    )
    document = read(path)
    assert document.format == "html"
    assert document.title == "Guide"
    assert [(page.section, page.text) for page in document.pages] == [
        ("Install", "Install\nGet the installer."),
        ("Install > Linux", "Linux\napt install jobdeck\njobdeck up"),
    ]
    everything = "\n".join(page.text for page in document.pages)
    for dropped in ("Home", "About", "secret", "color", "enable js"):
        assert dropped not in everything


def test_markdown_keeps_source_text_under_heading_paths(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text(
        "# Guide\n\nIntro.\n\n## Install\n\n```\n# not a heading\n```\n\n### Linux\nRun it.\n"
    )
    document = read(path)
    assert document.format == "md"
    assert document.title == "Guide"
    assert [(page.section, page.text) for page in document.pages] == [
        ("Guide", "# Guide\n\nIntro."),
        ("Guide > Install", "## Install\n\n```\n# not a heading\n```"),
        ("Guide > Install > Linux", "### Linux\nRun it."),
    ]


def test_text_in_a_legacy_encoding_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "legacy.txt"
    text = "Привет, мир! Это обычный текст в старой кодировке, довольно длинный для проверки.\n"
    path.write_bytes((text * 20).encode("cp1251"))
    document = read(path)
    assert document.format == "txt"
    assert document.pages[0].text.startswith("Привет, мир!")


def test_text_with_a_byte_order_mark_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "windows.txt"
    path.write_bytes("\ufeffline one\r\nline two\r\n".encode("utf-16"))
    assert read(path).pages[0].text == "line one\nline two\n"


# Bad input: each gets a DocumentError with a code and a reason a person can act on.


def test_zero_byte_file_is_empty(tmp_path: Path) -> None:
    (tmp_path / "nothing.pdf").write_bytes(b"")
    error = refused(tmp_path / "nothing.pdf")
    assert (error.code, error.reason) == ("empty", "'nothing.pdf' is empty (0 bytes)")


def test_blank_text_file_is_empty(tmp_path: Path) -> None:
    (tmp_path / "blank.md").write_text("  \n\n\t\n")
    assert refused(tmp_path / "blank.md").code == "empty"


def test_html_named_pdf_is_the_wrong_extension(tmp_path: Path) -> None:
    path = tmp_path / "invoice.pdf"
    path.write_text("<!DOCTYPE html><html><body><p>Your invoice</p></body></html>")
    error = refused(path)
    assert error.code == "wrong_extension"
    assert error.reason == "'invoice.pdf' is named .pdf but it is an HTML page"
    with pytest.raises(DocumentError, match="wrong_extension|HTML"):
        detect_format(path, "invoice.pdf")


def test_pdf_named_docx_is_the_wrong_extension(tmp_path: Path) -> None:
    path = samples.pdf(tmp_path / "report.pdf", ["text"])
    error = refused(path, "report.docx")
    assert error.code == "wrong_extension"
    assert "it is a PDF" in error.reason


def test_encrypted_pdf(tmp_path: Path) -> None:
    path = samples.pdf(tmp_path / "locked.pdf", ["secret"], password="hunter2")
    error = refused(path)
    assert error.code == "encrypted"
    assert "password-protected" in error.reason


@pytest.mark.parametrize("kept", [0.2, 0.5, 0.9])
def test_truncated_pdf_is_corrupt(tmp_path: Path, kept: float) -> None:
    whole = samples.pdf(tmp_path / "whole.pdf", [f"page {n} " * 50 for n in range(8)]).read_bytes()
    path = tmp_path / "cut.pdf"
    path.write_bytes(whole[: int(len(whole) * kept)])
    error = refused(path)
    assert error.code == "corrupt"
    assert "damaged or truncated" in error.reason


def test_500_page_pdf_is_read_whole_or_refused_past_the_limit(tmp_path: Path) -> None:
    path = samples.pdf(
        tmp_path / "long.pdf", [f"Section {n} of the long report." for n in range(500)]
    )
    document = read(path)
    assert len(document.pages) == 500
    assert document.pages[499].text == "Section 499 of the long report."
    error = refused(path, max_pages=499)
    assert error.code == "too_many_pages"
    assert error.reason == "'long.pdf' has 500 pages; the most accepted is 499"


def test_50_mb_single_line_is_one_page_or_too_large(tmp_path: Path) -> None:
    path = tmp_path / "line.txt"
    path.write_bytes(b"token " * (50 * 1024**2 // 6))
    document = read(path)
    assert len(document.pages) == 1
    assert document.characters == path.stat().st_size
    error = refused(path, max_bytes=10 * 1024**2)
    assert error.code == "too_large"
    assert "the largest document accepted is 10,485,760" in error.reason


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        (
            "photo.jpg",
            b"\xff\xd8\xff\xe0" + bytes(200),
            "'photo.jpg' is a JPEG image, not a document",
        ),
        (
            "data.bin",
            bytes(range(256)) * 4,
            "'data.bin' is binary data of no known document format",
        ),
        ("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "is a legacy Office file"),
    ],
)
def test_unknown_format(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    (tmp_path / name).write_bytes(content)
    error = refused(tmp_path / name)
    assert error.code == "unknown_format"
    assert reason in error.reason


def test_zip_that_is_no_office_document(tmp_path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(tmp_path / "bundle.docx", "w") as archive:
        archive.writestr("readme.txt", "hello")
    error = refused(tmp_path / "bundle.docx")
    assert error.code == "unknown_format"
    assert "not a DOCX, PPTX or XLSX" in error.reason


def test_password_protected_office_file(tmp_path: Path) -> None:
    # Office wraps an encrypted DOCX in a Compound File container.
    (tmp_path / "locked.docx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500))
    assert refused(tmp_path / "locked.docx").code == "encrypted"


def test_damaged_docx_is_corrupt(tmp_path: Path) -> None:
    import zipfile

    whole = samples.docx_file(tmp_path / "whole.docx")
    with zipfile.ZipFile(whole) as source, zipfile.ZipFile(tmp_path / "broken.docx", "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "word/document.xml":
                data = data[: len(data) // 2]  # XML cut in the middle
            target.writestr(item, data)
    error = refused(tmp_path / "broken.docx")
    assert error.code == "corrupt"
    assert error.reason.startswith("'broken.docx' is a damaged DOCX file")


def test_document_error_survives_pickling() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(DocumentError("encrypted", "locked")))
    assert (error.code, error.reason, str(error)) == ("encrypted", "locked", "locked")


def test_pdfs_parsed_from_many_threads_at_once(tmp_path: Path) -> None:
    """PDFium is not thread-safe; the lock makes threads take turns, page by page."""
    from concurrent.futures import ThreadPoolExecutor

    paths = [
        samples.pdf(tmp_path / f"doc-{n}.pdf", [f"document {n} page {p}" for p in range(20)])
        for n in range(6)
    ]
    with ThreadPoolExecutor(max_workers=6) as pool:
        documents = list(pool.map(read, paths * 3))
    for n, document in enumerate(documents):
        assert [page.text for page in document.pages] == [
            f"document {n % 6} page {p}" for p in range(20)
        ]
