"""A fake chat server speaking OpenAI's POST /v1/chat/completions and Ollama's POST
/api/chat (non-streamed): it answers "echo: <last user message>", or {"score": 7} when
a JSON answer is asked for, and counts tokens as words, keeping each request."""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


class ChatFake:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str | None] = []

    @staticmethod
    def prompt_tokens(text: str) -> int:
        return len(text.split())

    def _answer(self, body: dict[str, Any], wants_json: bool) -> tuple[str, int, int]:
        messages = body.get("messages") or []
        prompt = "".join(str(m.get("content", "")) for m in messages)
        last = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        text = json.dumps({"score": 7}) if wants_json else f"echo: {last}"
        return text, self.prompt_tokens(prompt), len(text.split())

    async def openai(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.authorizations.append(request.headers.get("authorization"))
        if not body.get("model") or not body.get("messages"):
            return JSONResponse({"error": {"message": "model and messages are required"}}, 400)
        text, prompt, completion = self._answer(body, "response_format" in body)
        return JSONResponse(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            }
        )

    async def ollama(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.authorizations.append(request.headers.get("authorization"))
        text, prompt, completion = self._answer(body, "format" in body)
        return JSONResponse(
            {
                "model": body.get("model"),
                "message": {"role": "assistant", "content": text},
                "done": True,
                "prompt_eval_count": prompt,
                "eval_count": completion,
            }
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self.openai, methods=["POST"]),
                Route("/api/chat", self.ollama, methods=["POST"]),
            ]
        )
