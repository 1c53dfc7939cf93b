"""Ollama does not train: this provider customizes a base model. It pulls the base model,
then creates a new model from it with a system prompt and few-shot messages taken from the
dataset (and, when given, a LoRA adapter uploaded as a blob). Both calls stream NDJSON
status lines, which become the job's progress and messages; an `{"error": ...}` line fails
the job with Ollama's words."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from temporalio.exceptions import ApplicationError

OnLine = Callable[[dict[str, Any]], Awaitable[None]]


def _failure(response: httpx.Response, body: str) -> Exception:
    try:
        message = json.loads(body).get("error") or body
    except ValueError:
        message = body or response.reason_phrase
    if response.status_code >= 500 or response.status_code == 429:
        return RuntimeError(f"Ollama answered {response.status_code}: {message}")
    return ApplicationError(
        f"Ollama refused: {message}", type=f"Ollama{response.status_code}", non_retryable=True
    )


class OllamaBuilder:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def _lines(self, path: str, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        try:
            async for item in self._stream(path, body):
                yield item
        except httpx.HTTPError as err:  # retryable; never the exception itself (it holds I/O)
            raise RuntimeError(f"Ollama did not answer: {type(err).__name__}: {err}") from None

    async def _stream(self, path: str, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        async with self.client.stream("POST", path, json=body, timeout=None) as response:
            if response.is_error:
                raise _failure(response, (await response.aread()).decode(errors="replace"))
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                item = json.loads(line)
                if "error" in item:
                    raise ApplicationError(
                        f"Ollama: {item['error']}", type="OllamaError", non_retryable=True
                    )
                yield item

    async def pull(self, model: str, on_line: OnLine) -> None:
        async for item in self._lines("/api/pull", {"model": model, "stream": True}):
            await on_line(item)

    async def push_blob(self, path: Path) -> str:
        """Upload a file as a blob unless Ollama has it already; returns its digest."""
        sha = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                sha.update(chunk)
        digest = f"sha256:{sha.hexdigest()}"
        head = await self.client.head(f"/api/blobs/{digest}")
        if head.status_code == 200:
            return digest

        async def chunks() -> AsyncIterator[bytes]:
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    yield chunk

        response = await self.client.post(f"/api/blobs/{digest}", content=chunks())
        if response.is_error:
            raise _failure(response, response.text)
        return digest

    async def create(self, request: dict[str, Any], on_line: OnLine) -> None:
        async for item in self._lines("/api/create", {**request, "stream": True}):
            await on_line(item)

    async def exists(self, model: str) -> bool:
        response = await self.client.post("/api/show", json={"model": model})
        return response.status_code == 200
