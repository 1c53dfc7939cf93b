"""The OpenAI and Ollama embedders against faithful local fakes of their endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from pydantic import SecretStr

from jobdeck import tiktokens
from jobdeck.config import Settings
from jobdeck.documents.embedding import EmbeddingError, open_embedder
from jobdeck.documents.remote_embedders import OllamaEmbedder, OpenAIEmbedder
from tests.fakes.embeddings_server import EmbeddingsControl, create_embeddings_fake, vector
from tests.fakes.serving import Switchable, serving

KEY = "sk-test-embeddings"
TEXTS = ["alpha beta", "gamma delta", "alpha gamma", "epsilon", "beta beta beta"]


@pytest.fixture(scope="module")
async def served() -> AsyncIterator[tuple[Switchable, str]]:
    switch = Switchable()
    async with serving(switch) as url:
        yield switch, url


@pytest.fixture
def control(served: tuple[Switchable, str]) -> EmbeddingsControl:
    app = create_embeddings_fake(api_key=KEY)
    served[0].app = app
    return app.state.control  # type: ignore[no-any-return]


@pytest.fixture
def remote_settings(tmp_path: Path, served: tuple[Switchable, str]) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path,
        openai_api_key=SecretStr(KEY),
        openai_base_url=f"{served[1]}/v1",
        ollama_base_url=served[1],
        embedding_batch_size=2,
    )


async def test_openai_embeds_in_batches_in_order(
    remote_settings: Settings, control: EmbeddingsControl
) -> None:
    embedder = open_embedder(remote_settings, "openai", "text-embedding-3-small")
    try:
        assert (embedder.provider, embedder.dimensions, embedder.max_tokens) == (
            "openai",
            1536,
            8191,
        )
        vectors = await embedder.embed(TEXTS)
    finally:
        await embedder.aclose()
    assert np.allclose(vectors, [vector(text, 1536) for text in TEXTS], atol=1e-6)
    assert [len(body["input"]) for body in control.requests] == [2, 2, 1]
    assert all(body["model"] == "text-embedding-3-small" for body in control.requests)
    assert all(KEY not in str(body) for body in control.requests)  # the key is a header only


async def test_openai_requests_stay_under_300000_tokens(
    remote_settings: Settings, control: EmbeddingsControl
) -> None:
    settings = remote_settings.model_copy(update={"embedding_batch_size": 2048})
    embedder = OpenAIEmbedder(settings, "text-embedding-3-small")
    text = "lorem " * 7900
    assert 7000 < embedder.count_tokens(text) <= 8192
    try:
        vectors = await embedder.embed([text] * 40)
    finally:
        await embedder.aclose()
    assert len(vectors) == 40
    sizes = [len(body["input"]) for body in control.requests]
    assert sum(sizes) == 40 and len(sizes) == 2
    encoding = tiktokens.encoding("cl100k_base")
    for body in control.requests:
        assert sum(len(encoding.encode_ordinary(item)) for item in body["input"]) <= 300_000


async def test_openai_waits_as_long_as_retry_after_says(
    remote_settings: Settings, control: EmbeddingsControl
) -> None:
    control.fail_next(
        429,
        {
            "error": {
                "message": "Rate limit reached",
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        },
        {"retry-after": "1"},
    )
    embedder = open_embedder(remote_settings, "openai", "text-embedding-3-small")
    try:
        assert len(await embedder.embed(["once"])) == 1
    finally:
        await embedder.aclose()
    assert len(control.times) == 2
    assert control.times[1] - control.times[0] >= 0.95


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [(500, None, True), (429, "insufficient_quota", False)],
)
async def test_openai_failures_after_retries(
    remote_settings: Settings,
    control: EmbeddingsControl,
    status: int,
    code: str | None,
    retryable: bool,
) -> None:
    for _ in range(4):
        control.fail_next(
            status,
            {"error": {"message": "nope", "type": "server_error", "param": None, "code": code}},
            {"retry-after-ms": "10"},
        )
    embedder = open_embedder(remote_settings, "openai", "text-embedding-3-small")
    try:
        with pytest.raises(
            EmbeddingError, match=f"OpenAI refused the embedding request \\({status}\\)"
        ) as caught:
            await embedder.embed(["x"])
    finally:
        await embedder.aclose()
    assert caught.value.retryable is retryable
    assert len(control.requests) == 4  # the first try and three retries


async def test_openai_bad_key_and_unknown_model_are_not_retryable(
    remote_settings: Settings, control: EmbeddingsControl
) -> None:
    wrong = remote_settings.model_copy(update={"openai_api_key": SecretStr("sk-wrong")})
    for settings, model, status in [
        (wrong, "text-embedding-3-small", "401"),
        (remote_settings, "text-embedding-4-imaginary", "404"),
    ]:
        embedder = open_embedder(settings, "openai", model)
        try:
            with pytest.raises(EmbeddingError, match=status) as caught:
                await embedder.embed(["x"])
        finally:
            await embedder.aclose()
        assert caught.value.retryable is False
    assert control.requests == [
        {"model": "text-embedding-4-imaginary", "input": ["x"], "encoding_format": "base64"}
    ]


def test_openai_needs_a_key(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingError, match="JOBDECK_OPENAI_API_KEY") as caught:
        open_embedder(
            Settings(environment="test", data_dir=tmp_path), "openai", "text-embedding-3-small"
        )
    assert caught.value.retryable is False


async def test_openai_unknown_model_dimensions_learned_from_the_answer(
    remote_settings: Settings, control: EmbeddingsControl
) -> None:
    embedder = OpenAIEmbedder(remote_settings, "text-embedding-3-large")
    embedder.dimensions = 0  # as for a model the table does not know
    try:
        await embedder.embed(["x"])
    finally:
        await embedder.aclose()
    assert embedder.dimensions == 3072


async def test_ollama_embeds_in_batches(
    remote_settings: Settings, control: EmbeddingsControl
) -> None:
    embedder = open_embedder(remote_settings, "ollama", "nomic-embed-text")
    try:
        assert embedder.dimensions == 0
        vectors = await embedder.embed(TEXTS)
        assert embedder.dimensions == 768
        assert embedder.count_tokens("Hello world") == 2
    finally:
        await embedder.aclose()
    assert np.allclose(vectors, [vector(text, 768) for text in TEXTS], atol=1e-6)
    assert [body["input"] for body in control.requests] == [TEXTS[0:2], TEXTS[2:4], TEXTS[4:]]


async def test_ollama_retries_a_busy_server_after_retry_after(
    remote_settings: Settings, control: EmbeddingsControl
) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    control.fail_next(503, {"error": "server busy, please try again"}, {"Retry-After": "2"})
    control.fail_next(500, {"error": "llama runner process has terminated"})
    embedder = OllamaEmbedder(remote_settings, "all-minilm", sleep=sleep)
    try:
        assert len((await embedder.embed(["x"]))[0]) == 384
    finally:
        await embedder.aclose()
    assert waits == [2.0, 1.0]  # as asked, then the backoff's second step


async def test_ollama_model_not_pulled(
    remote_settings: Settings, control: EmbeddingsControl
) -> None:
    embedder = open_embedder(remote_settings, "ollama", "mxbai-embed-large")
    try:
        with pytest.raises(EmbeddingError, match="ollama pull mxbai-embed-large") as caught:
            await embedder.embed(["x"])
    finally:
        await embedder.aclose()
    assert caught.value.retryable is False
    assert len(control.requests) == 1


async def test_ollama_unreachable_is_retryable(tmp_path: Path) -> None:
    from tests.fakes.serving import free_port

    settings = Settings(
        environment="test", data_dir=tmp_path, ollama_base_url=f"http://127.0.0.1:{free_port()}"
    )
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    embedder = OllamaEmbedder(settings, "all-minilm", sleep=sleep)
    try:
        with pytest.raises(EmbeddingError, match="Ollama could not be reached") as caught:
            await embedder.embed(["x"])
    finally:
        await embedder.aclose()
    assert caught.value.retryable is True
    assert waits == [0.5, 1.0, 2.0]
