"""Fake embedding endpoints: OpenAI's `POST /v1/embeddings` and Ollama's `POST /api/embed`.

    app = create_embeddings_fake(api_key="sk-test")
    control = app.state.control    # EmbeddingsControl: requests seen, scripted failures

It speaks both wire formats as the real services do: OpenAI's bearer auth, error bodies
({"error": {message, type, param, code}}), limits (2048 inputs, 8192 tokens per input,
300,000 per request), `dimensions` for text-embedding-3 models, float or base64 encoding,
usage counts; Ollama's string-or-list `input`, `{"error": ...}` bodies, 404 for a model
that is not pulled. Vectors are feature-hashed words, normalized: texts that share words
are closer, so retrieval through the fake still means something.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from jobdeck import tiktokens

OPENAI_MODELS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
OLLAMA_MODELS = {"all-minilm:latest": 384, "nomic-embed-text:latest": 768}
_WORD = re.compile(r"\w+")


def vector(text: str, dimensions: int) -> list[float]:
    values = np.zeros(dimensions, dtype=np.float32)
    for word in _WORD.findall(text.lower()) or [text]:
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "little") % dimensions
        values[index] += 1.0 if digest[4] & 1 else -1.0
    norm = float(np.linalg.norm(values))
    return (values / norm if norm else values).tolist()


@dataclass
class Scripted:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class EmbeddingsControl:
    api_key: str
    requests: list[dict[str, Any]] = field(default_factory=list)  # bodies, in order
    times: list[float] = field(default_factory=list)  # time.monotonic() of each request
    failures: list[Scripted] = field(default_factory=list)  # answered first, one each

    def fail_next(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        self.failures.append(Scripted(status, body, headers or {}))


def _openai_error(
    status: int, message: str, code: str | None, param: str | None = None
) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


def _openai_inputs(raw: Any) -> list[str] | None:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(item, str) for item in raw):
        return list(raw)
    return None  # token-array inputs are real too, but jobdeck never sends them


def create_embeddings_fake(*, api_key: str) -> FastAPI:
    control = EmbeddingsControl(api_key)
    app = FastAPI(title="fake embeddings", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.control = control
    encoding = tiktokens.encoding("cl100k_base")

    async def seen(request: Request) -> tuple[dict[str, Any] | None, JSONResponse | None]:
        control.times.append(time.monotonic())
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        control.requests.append(body if isinstance(body, dict) else {})
        if control.failures:
            scripted = control.failures.pop(0)
            return None, JSONResponse(scripted.body, scripted.status, headers=scripted.headers)
        return (body if isinstance(body, dict) else None), None

    @app.post("/v1/embeddings")
    async def openai_embeddings(request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {control.api_key}":
            return _openai_error(401, "Incorrect API key provided.", "invalid_api_key")
        body, scripted = await seen(request)
        if scripted is not None:
            return scripted
        if body is None:
            return _openai_error(400, "We could not parse the JSON body of your request.", None)
        model = body.get("model")
        if model not in OPENAI_MODELS:
            return _openai_error(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                "model_not_found",
            )
        texts = _openai_inputs(body.get("input"))
        if texts is None or any(text == "" for text in texts):
            return _openai_error(
                400, "'$.input' is invalid. Please check the API reference.", None, "input"
            )
        if len(texts) > 2048:
            return _openai_error(400, "'input' : maximum 2048 inputs per request", None, "input")
        counts = [len(encoding.encode_ordinary(text)) for text in texts]
        if max(counts) > 8192:
            return _openai_error(
                400,
                f"This model's maximum context length is 8192 tokens, however you requested "
                f"{max(counts)} tokens in the input.",
                None,
                "input",
            )
        if sum(counts) > 300_000:
            return _openai_error(
                400,
                f"Requested {sum(counts)} tokens, max 300000 tokens per request",
                "max_tokens_per_request",
            )
        dimensions = OPENAI_MODELS[model]
        if body.get("dimensions") is not None:
            if not str(model).startswith("text-embedding-3"):
                return _openai_error(
                    400, "This model does not support specifying dimensions.", None, "dimensions"
                )
            dimensions = int(body["dimensions"])
        form = body.get("encoding_format") or "float"
        data = []
        for index, text in enumerate(texts):
            values = vector(text, dimensions)
            encoded: Any = values
            if form == "base64":
                encoded = base64.b64encode(np.asarray(values, dtype="<f4").tobytes()).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        usage = {"prompt_tokens": sum(counts), "total_tokens": sum(counts)}
        return JSONResponse({"object": "list", "data": data, "model": model, "usage": usage})

    @app.post("/api/embed")
    async def ollama_embed(request: Request) -> JSONResponse:
        body, scripted = await seen(request)
        if scripted is not None:
            return scripted
        if body is None:
            return JSONResponse({"error": "invalid JSON body"}, status_code=400)
        name = body.get("model")
        if not isinstance(name, str) or not name:
            return JSONResponse({"error": "model is required"}, status_code=400)
        full = name if ":" in name else f"{name}:latest"
        if full not in OLLAMA_MODELS:
            return JSONResponse(
                {"error": f'model "{name}" not found, try pulling it first'}, status_code=404
            )
        raw = body.get("input")
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
            return JSONResponse({"error": "invalid input type"}, status_code=400)
        dimensions = OLLAMA_MODELS[full]
        return JSONResponse(
            {
                "model": name,
                "embeddings": [vector(text, dimensions) for text in texts],
                "total_duration": 1_000_000,
                "load_duration": 10_000,
                "prompt_eval_count": sum(len(_WORD.findall(text)) for text in texts),
            }
        )

    return app
