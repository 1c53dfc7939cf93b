"""Embedding providers behind one small protocol: local (ONNX, offline; the default),
OpenAI (`embeddings.create`) and Ollama (`/api/embed`).

Keys and base URLs come from settings only, never from a job's input. An embedder counts
tokens with its model's own tokenizer, which the chunker uses to size chunks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from jobdeck.config import Settings
from jobdeck.documents.errors import EmbeddingError

if TYPE_CHECKING:
    from jobdeck.providers.budgets import ProviderBudgets

PROVIDERS: tuple[str, ...] = ("local", "openai", "ollama")
DEFAULT_LOCAL_MODEL = "all-MiniLM-L6-v2"

__all__ = ["DEFAULT_LOCAL_MODEL", "PROVIDERS", "Embedder", "EmbeddingError", "open_embedder"]


class Embedder(Protocol):
    provider: str
    model: str
    # The vector length; 0 for a remote model whose length is known only once it answered
    # (an Ollama model, an OpenAI model not in the table): read len(vector) then.
    dimensions: int
    max_batch: int  # texts per call to `embed` that make one request or one model run
    max_tokens: int  # the longest text the model reads whole; chunks must fit in it

    def count_tokens(self, text: str) -> int: ...

    async def embed(self, texts: list[str]) -> list[list[float]]: ...

    async def aclose(self) -> None: ...


def open_embedder(
    settings: Settings, provider: str, model: str, *, budgets: ProviderBudgets | None = None
) -> Embedder:
    """The embedder for `provider` ("local", "openai", "ollama") and `model`, a remote
    one's calls spending from `budgets` (the process's provider budgets). Raises
    EmbeddingError (not retryable) for an unknown provider or a missing local model."""
    if provider == "local":
        from jobdeck.documents.local_embedder import open_local

        return open_local(settings, model)
    if provider == "openai":
        from jobdeck.documents.remote_embedders import OpenAIEmbedder

        return OpenAIEmbedder(settings, model, budgets=budgets)
    if provider == "ollama":
        from jobdeck.documents.remote_embedders import OllamaEmbedder

        return OllamaEmbedder(settings, model, budgets=budgets)
    raise EmbeddingError(
        f"unknown embedding provider {provider!r}; choose one of {', '.join(PROVIDERS)}",
        retryable=False,
    )
