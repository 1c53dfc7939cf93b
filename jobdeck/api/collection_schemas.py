"""Wire schemas for collections, their documents and jobs' items (camelCase JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from jobdeck.api.schemas import Schema
from jobdeck.api.text import StorableText


class JobItemPublic(Schema):
    seq: int = Field(description="The item's number in its job, in work order")
    key: str = Field(description="What the item is: a document id, a target job id")
    status: str = Field(description="pending, succeeded, partial, needs_ocr, failed, skipped")
    details: dict[str, Any] | None = Field(description="What the job noted when listing it")
    result: dict[str, Any] | None = Field(description="What processing it found or made")
    error: str | None = Field(description="Why it failed or was skipped")
    updated_at: datetime


class JobItemsPublic(Schema):
    data: list[JobItemPublic]
    counts: dict[str, int] = Field(description="The job's items by status")
    next_cursor: str | None = None


EMBEDDING_PROVIDERS = ("local", "openai", "ollama")
DEFAULT_MODELS = {
    "local": "all-MiniLM-L6-v2",
    "openai": "text-embedding-3-small",
    "ollama": "nomic-embed-text",
}


class EmbeddingChoice(Schema, StorableText):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    provider: Literal["local", "openai", "ollama"] = "local"
    model: str | None = Field(
        default=None, min_length=1, max_length=200, description="Default: the provider's own"
    )


class ChunkingChoice(Schema, StorableText):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    max_tokens: int = Field(default=256, ge=16, le=8192, description="Tokens per chunk at most")
    overlap: int = Field(default=32, ge=0, description="Tokens shared by neighbouring chunks")

    @model_validator(mode="after")
    def _overlap_below_half(self) -> ChunkingChoice:
        if self.overlap * 2 > self.max_tokens:
            raise ValueError("overlap must be at most half of maxTokens")
        return self


class CollectionCreate(Schema, StorableText):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    embedding: EmbeddingChoice = Field(default_factory=EmbeddingChoice)
    chunking: ChunkingChoice = Field(default_factory=ChunkingChoice)


class EmbeddingPublic(Schema):
    provider: str
    model: str
    dimensions: int | None = Field(description="null until the first document is embedded")


class ChunkingPublic(Schema):
    max_tokens: int
    overlap: int


class CollectionPublic(Schema):
    id: str
    name: str
    embedding: EmbeddingPublic
    chunking: ChunkingPublic
    created_at: datetime
    updated_at: datetime


class CollectionsPublic(Schema):
    data: list[CollectionPublic]
    next_cursor: str | None = None


class DocumentPublic(Schema):
    id: str
    collection_id: str
    filename: str
    size_bytes: int
    sha256: str
    format: str | None
    status: str = Field(
        description="pending (not processed since upload), succeeded, partial, needs_ocr, "
        "failed or skipped: its latest processing's outcome"
    )
    pages: int | None
    failed_pages: dict[str, Any] | None = Field(description="Page number -> why it failed")
    characters: int | None
    tokens: int | None
    chunks: int | None
    error: str | None
    job_id: str | None = Field(description="The job that last processed it")
    created_at: datetime
    updated_at: datetime


class DocumentsPublic(Schema):
    data: list[DocumentPublic]
    next_cursor: str | None = None


class SkippedFilePublic(Schema):
    name: str = Field(description="The file, or the archive member, as sent")
    reason: str


class UploadPublic(Schema):
    data: list[DocumentPublic] = Field(description="The documents added or replaced")
    skipped: list[SkippedFilePublic] = Field(
        description="Archive members that are not documents, and why"
    )


class IngestRequest(Schema, StorableText):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    document_ids: list[str] = Field(
        default_factory=list, max_length=100_000, description="Default: every document"
    )
    dataset_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=36,
        description="Instead: each row of this dataset becomes a document of the collection",
    )
    text_column: str | None = Field(
        default=None, min_length=1, max_length=255, description="With datasetId: the text"
    )
    title_column: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="With datasetId: each row's document name (default: its row number)",
    )
    allowed_failure_ratio: float = Field(default=0.1, ge=0, le=1)
    force: bool = Field(default=False, description="Redo documents that are unchanged")


class SearchRequest(Schema, StorableText):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    query: str = Field(min_length=1, max_length=4000)
    k: int = Field(default=5, ge=1, le=100)
    document_ids: list[str] | None = Field(
        default=None, max_length=1000, description="Only among these documents"
    )


class SearchHit(Schema):
    chunk_id: str
    document_id: str
    filename: str | None
    page: int
    start: int = Field(description="Character offset of the chunk in its page's text")
    end: int
    score: float = Field(description="Cosine similarity to the query, higher is closer")
    text: str


class SearchResults(Schema):
    data: list[SearchHit]
