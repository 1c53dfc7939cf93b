"""The documents library's value types: what a parser returns, what the chunker cuts, what
the vector store keeps and finds. Plain data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

DocumentErrorCode = Literal[
    "empty",
    "unknown_format",
    "wrong_extension",
    "encrypted",
    "corrupt",
    "too_large",
    "too_many_pages",
]


class DocumentError(Exception):
    """A document that cannot be read at all; `reason` is meant for the person who sent it."""

    def __init__(self, code: DocumentErrorCode, reason: str) -> None:
        super().__init__(reason)
        self.code: str = code
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled across a subprocess boundary, it must rebuild with both arguments.
        return (type(self), (self.code, self.reason))


@dataclass(frozen=True)
class Page:
    """One page of text (a PDF page, a slide, a sheet, a heading's section, or the whole
    text of a format without pages); `number` is 1-based."""

    number: int
    text: str
    needs_ocr: bool = False
    section: str | None = None  # heading path, e.g. "Install > Linux"


@dataclass
class ParsedDocument:
    format: str
    pages: list[Page]
    failed_pages: dict[int, str] = field(default_factory=dict)  # page number -> reason
    title: str | None = None

    @property
    def characters(self) -> int:
        return sum(len(page.text) for page in self.pages)

    @property
    def needs_ocr_pages(self) -> list[int]:
        return [page.number for page in self.pages if page.needs_ocr]


@dataclass(frozen=True)
class Chunk:
    """A token-sized piece of one page; `page.text[start:end] == text`."""

    index: int
    text: str
    page: int
    start: int
    end: int
    tokens: int
    section: str | None


@dataclass(frozen=True)
class VectorRecord:
    chunk_id: str
    collection_id: str
    document_id: str
    vector: list[float]
    page: int
    start: int
    end: int
    text: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    document_id: str
    page: int
    start: int
    end: int
    score: float  # cosine similarity, higher is closer
    text: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as the vector store keeps it, for exports; `vector` only when asked for."""

    chunk_id: str
    document_id: str
    page: int
    start: int
    end: int
    text: str
    metadata: dict[str, Any]
    vector: list[float] | None = None

    @property
    def after(self) -> tuple[int, int, str]:
        """Its place in reading order, the keyset of `VectorStore.document_chunks`."""
        return (self.page, self.start, self.chunk_id)
