"""An Office file's objects are freed when its parse returns, not at some later full
collection: python-docx and python-pptx keep each part's lxml tree in a reference cycle,
and a busy worker's oldest generation is collected rarely (worker RSS grew ~100 MB over a
10,000-document batch before this; bench/documents.py --rss-docs)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import docx.document
import pptx.presentation
import pytest

from jobdeck.documents import office
from jobdeck.documents.types import ParsedDocument
from tests.documents_lib.samples import docx_file, pptx_file


@contextmanager
def collector_that_promotes_at_once() -> Iterator[None]:
    """Automatic collection that moves every survivor to the oldest generation after a
    couple of allocations and then almost never collects that one: what a worker holding
    a quarter of a million objects looks like to a short-lived document."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.set_threshold(1, 1, 1_000_000)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.collect()


def _alive(kind: type) -> int:
    # type(), not isinstance(): isinstance also asks an object for its __class__, and
    # some modules' objects warn when asked (torch's deprecated aliases, once imported).
    return sum(type(item) is kind for item in gc.get_objects())


@pytest.mark.parametrize(
    ("fmt", "make", "kind"),
    [
        ("docx", docx_file, docx.document.Document),
        ("pptx", pptx_file, pptx.presentation.Presentation),
    ],
)
def test_an_office_file_is_freed_when_its_parse_returns(
    tmp_path: Path, fmt: str, make: Callable[[Path], Path], kind: type
) -> None:
    path = make(tmp_path / f"sample.{fmt}")
    with collector_that_promotes_at_once():
        before = _alive(kind)  # (other tests' may be alive; the one that wrote the file isn't)
        for _ in range(3):
            parsed = office.parse_office(fmt, path, path.name, max_pages=100)
            assert parsed.pages
        assert _alive(kind) == before
        assert gc.isenabled()


def test_collection_stays_off_if_it_was_off_and_on_after_overlapping_reads(
    tmp_path: Path,
) -> None:
    path = docx_file(tmp_path / "sample.docx")
    gc.disable()
    try:
        office.parse_office("docx", path, path.name, max_pages=100)
        assert not gc.isenabled()  # someone else turned it off: not ours to turn on
    finally:
        gc.enable()

    # Two threads reading at once: collection resumes only when the last one is done.
    inside, release = threading.Event(), threading.Event()
    original = office._READERS["docx"]

    def slow_reader(document: object, filename: str, max_pages: int) -> ParsedDocument:
        inside.set()
        release.wait(10)
        return original(document, filename, max_pages)

    office._READERS["docx"] = slow_reader
    try:
        first = threading.Thread(
            target=office.parse_office, args=("docx", path, path.name), kwargs={"max_pages": 9}
        )
        first.start()
        assert inside.wait(10)
        office._READERS["docx"] = original
        office.parse_office("docx", path, path.name, max_pages=100)
        assert not gc.isenabled()  # the first read is still going
        release.set()
        first.join(10)
    finally:
        office._READERS["docx"] = original
        release.set()
    assert gc.isenabled()
