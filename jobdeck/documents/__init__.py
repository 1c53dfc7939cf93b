"""Documents as data: parse a file into pages, cut pages into token-sized chunks, embed the
chunks and keep the vectors. A library with no Temporal and no job records in it: the
document-processing job type (activities, workflow) drives it."""

from jobdeck.documents.types import (
    Chunk,
    DocumentError,
    Hit,
    Page,
    ParsedDocument,
    VectorRecord,
)

__all__ = ["Chunk", "DocumentError", "Hit", "Page", "ParsedDocument", "VectorRecord"]
