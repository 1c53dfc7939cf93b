"""Remote embedders: OpenAI (the official SDK's `embeddings.create`) and Ollama
(`POST /api/embed` over httpx). Keys and addresses come from settings only.

Both batch: OpenAI takes up to 2048 inputs and 300,000 tokens per request, so requests
are cut at whichever comes first. A 429 or 5xx is retried a few times after the delay the
server asks for (Retry-After) or a short backoff; what still fails raises EmbeddingError
with `retryable` (and `retry_after`) so the caller's retry policy takes over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
from tokenizers import Tokenizer

from jobdeck import tiktokens
from jobdeck.config import Settings
from jobdeck.documents.errors import EmbeddingError
from jobdeck.providers.budgets import ProviderBudgets
from jobdeck.providers.headers import retry_after_s
from jobdeck.providers.transport import budgeted_client, openai_client

# Known OpenAI embedding models: vector length and context length (tokens).
OPENAI_MODELS: dict[str, tuple[int, int]] = {
    "text-embedding-3-small": (1536, 8191),
    "text-embedding-3-large": (3072, 8191),
    "text-embedding-ada-002": (1536, 8191),
}
OPENAI_MAX_INPUTS = 2048
OPENAI_MAX_REQUEST_TOKENS = 300_000
RETRIES = 3
_MAX_WAIT = 120.0  # seconds: a longer Retry-After is left to the caller's retry policy
_BERT_TOKENIZER = Path(__file__).parent / "minilm" / "tokenizer.json"


class OpenAIEmbedder:
    provider = "openai"

    def __init__(
        self, settings: Settings, model: str, *, budgets: ProviderBudgets | None = None
    ) -> None:
        if settings.openai_api_key is None:
            raise EmbeddingError(
                "the openai embedding provider needs an API key (JOBDECK_OPENAI_API_KEY)",
                retryable=False,
            )
        self.model = model
        self.dimensions, self.max_tokens = OPENAI_MODELS.get(model, (0, 8191))
        self.max_batch = min(settings.embedding_batch_size, OPENAI_MAX_INPUTS)
        # The SDK retries 5xx (and a 429 the budget's transport hands on) itself,
        # honouring Retry-After up to two minutes.
        self._client = openai_client(budgets, settings, max_retries=RETRIES)
        self._encoding = tiktokens.encoding("cl100k_base")  # text-embedding-3's and ada's

    def count_tokens(self, text: str) -> int:
        return len(self._encoding.encode_ordinary(text))

    def _requests(self, texts: list[str]) -> list[tuple[int, int]]:
        """[start, end) ranges of `texts`, each one request within both OpenAI limits."""
        ranges, start, tokens = [], 0, 0
        for index, text in enumerate(texts):
            cost = self.count_tokens(text)
            if index > start and (
                index - start >= self.max_batch or tokens + cost > OPENAI_MAX_REQUEST_TOKENS
            ):
                ranges.append((start, index))
                start, tokens = index, 0
            tokens += cost
        if start < len(texts):
            ranges.append((start, len(texts)))
        return ranges

    async def embed(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start, end in self._requests(texts):
            try:
                response = await self._client.embeddings.create(
                    model=self.model, input=texts[start:end]
                )
            except openai.APIStatusError as error:
                raise _openai_error(error) from error
            except (openai.APIConnectionError, openai.APITimeoutError) as error:
                raise EmbeddingError(
                    f"OpenAI could not be reached: {error}", retryable=True
                ) from error
            data = sorted(response.data, key=lambda item: item.index)
            if len(data) != end - start:
                raise EmbeddingError(
                    f"OpenAI returned {len(data)} embeddings for {end - start} inputs",
                    retryable=True,
                )
            vectors.extend(list(item.embedding) for item in data)
        if vectors and not self.dimensions:
            self.dimensions = len(vectors[0])
        return vectors

    async def aclose(self) -> None:
        await self._client.close()


def _openai_error(error: openai.APIStatusError) -> EmbeddingError:
    body = error.body if isinstance(error.body, dict) else {}
    code = body.get("code") if isinstance(body.get("code"), str) else None
    status = error.status_code
    # A 429 for an exhausted quota (code insufficient_quota) does not pass with waiting.
    retryable = (status == 429 and code != "insufficient_quota") or status >= 500 or status == 408
    return EmbeddingError(
        f"OpenAI refused the embedding request ({status}): {error.message}",
        retryable=retryable,
        retry_after=retry_after_s(error.response.headers) if retryable else None,
    )


class OllamaEmbedder:
    """Ollama has no tokenizer endpoint: tokens are counted with a BERT WordPiece
    tokenizer (that of most models Ollama embeds with: nomic-embed-text, all-minilm,
    mxbai-embed-large), an estimate for others; Ollama truncates what its model cannot read."""

    provider = "ollama"

    def __init__(
        self,
        settings: Settings,
        model: str,
        *,
        sleep: Callable[[float], Any] = asyncio.sleep,
        budgets: ProviderBudgets | None = None,
    ) -> None:
        self.model = model
        self.dimensions = 0  # known at the first answer
        self.max_batch = settings.embedding_batch_size
        self.max_tokens = 512
        self._client = budgeted_client(
            budgets,
            "ollama",
            base_url=settings.ollama_base_url,
            timeout=settings.provider_timeout_s,
        )
        self._tokenizer = Tokenizer.from_file(str(_BERT_TOKENIZER))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._sleep = sleep

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Each token's (start, end) characters in `text`: the chunker cuts by these."""
        return list(self._tokenizer.encode(text, add_special_tokens=False).offsets)

    async def _post(self, batch: list[str]) -> list[list[float]]:
        for attempt in range(RETRIES + 1):
            try:
                response = await self._client.post(
                    "/api/embed", json={"model": self.model, "input": batch}
                )
            except httpx.HTTPError as error:
                failure = EmbeddingError(f"Ollama could not be reached: {error}", retryable=True)
                wait = None
            else:
                if response.status_code == 200:
                    embeddings = response.json().get("embeddings")
                    if not isinstance(embeddings, list) or len(embeddings) != len(batch):
                        raise EmbeddingError(
                            "Ollama answered without one embedding per input", retryable=True
                        )
                    return [list(map(float, vector)) for vector in embeddings]
                failure = _ollama_error(response, self.model)
                wait = failure.retry_after
            if not failure.retryable or attempt == RETRIES:
                raise failure
            delay = wait if wait is not None else 0.5 * 2**attempt
            if delay > _MAX_WAIT:
                raise failure
            await self._sleep(delay)
        raise AssertionError("unreachable")

    async def embed(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.max_batch):
            vectors.extend(await self._post(texts[start : start + self.max_batch]))
        if vectors and not self.dimensions:
            self.dimensions = len(vectors[0])
        return vectors

    async def aclose(self) -> None:
        await self._client.aclose()


def _ollama_error(response: httpx.Response, model: str) -> EmbeddingError:
    try:
        message = str(response.json().get("error", response.text))
    except ValueError:
        message = response.text
    status = response.status_code
    if status == 404:
        return EmbeddingError(
            f"Ollama has no model {model!r} (run `ollama pull {model}`): {message}", retryable=False
        )
    retryable = status == 429 or status >= 500 or status == 408
    return EmbeddingError(
        f"Ollama refused the embedding request ({status}): {message}",
        retryable=retryable,
        retry_after=retry_after_s(response.headers) if retryable else None,
    )
