"""The http and llm steps against local servers: a receiver (allow-listed, since the
step refuses loopback and private addresses otherwise) and a fake OpenAI-compatible chat
completions server (tests/fakes/chat_server.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from jobdeck.activities.pipeline_http import MAX_BODY_BYTES
from tests.conftest import Stack, Tenant, new_tenant, open_stack
from tests.fakes.chat_server import ChatFake
from tests.fakes.serving import endless_answer, serving
from tests.pipelines.helpers import run_to_end, save, start, steps_of


def receiver() -> tuple[Starlette, dict[str, int]]:
    calls: dict[str, int] = {}

    async def echo(request: Request) -> Response:
        calls["echo"] = calls.get("echo", 0) + 1
        body = await request.json()
        return JSONResponse({"got": body, "token": request.headers.get("x-token")})

    async def flaky(request: Request) -> Response:
        calls["flaky"] = calls.get("flaky", 0) + 1
        if calls["flaky"] < 3:
            return Response("busy", status_code=503 if calls["flaky"] == 1 else 429)
        return JSONResponse({"ok": True})

    async def missing(request: Request) -> Response:
        calls["missing"] = calls.get("missing", 0) + 1
        return Response("no such thing", status_code=404)

    async def endless(request: Request) -> Response:
        calls["endless"] = calls.get("endless", 0) + 1

        def hung_up() -> None:
            calls["hung_up"] = calls.get("hung_up", 0) + 1

        return endless_answer(request, hung_up)

    async def exactly(request: Request) -> Response:
        return Response(b"y" * MAX_BODY_BYTES, media_type="text/plain")

    async def nul(request: Request) -> Response:
        # NUL, raw in a text answer and escaped in a JSON one: PostgreSQL's text cannot
        # hold it, its json column holds the escape.
        if request.query_params.get("as") == "json":
            return Response(b'{"v": "a\\u0000b"}', media_type="application/json")
        return Response(b"a\x00b\x01c", media_type="text/plain")

    routes = [
        Route("/nul", nul),
        Route("/endless", endless),
        Route("/exactly", exactly),
        Route("/echo", echo, methods=["POST"]),
        Route("/flaky", flaky),
        Route("/missing", missing),
    ]
    return Starlette(routes=routes), calls


@pytest.fixture
async def allowed(stack: Stack) -> AsyncIterator[Stack]:
    """A stack whose http steps may call 127.0.0.1 (its own task queue and workers)."""
    chat = ChatFake()
    async with (
        serving(chat.app()) as chat_url,
        open_stack(
            stack,
            task_queue=f"tq-{uuid.uuid4().hex[:8]}",
            pipeline_http_allow=["127.0.0.1"],
            openai_base_url=f"{chat_url}/v1",
            openai_api_key=SecretStr("sk-test"),
            ollama_base_url=chat_url,
        ) as built,
    ):
        built.chat = chat  # type: ignore[attr-defined]
        yield built


async def test_http_steps_call_out_retry_and_check_statuses(allowed: Stack) -> None:
    app, calls = receiver()
    account = await new_tenant(allowed)
    async with serving(app) as url, allowed.client(account.key) as api:
        spec = {
            "inputs": {"n": {"type": "integer"}},
            "steps": [
                {
                    "id": "post",
                    "kind": "http",
                    "method": "POST",
                    "url": f"{url}/echo",
                    "headers": {"x-token": "t-${inputs.n}"},
                    "body": {"n": "${inputs.n}"},
                },
                {
                    "id": "flaky",
                    "kind": "http",
                    "url": f"{url}/flaky",
                    "retry": {"maxAttempts": 3, "backoff": "10ms"},
                },
                {
                    "id": "gone",
                    "kind": "http",
                    "url": f"{url}/missing",
                    "expectedStatuses": [200, 204],
                    "continueOnError": True,
                },
            ],
            "outputs": {
                "echo": "${steps.post.output.body}",
                "flaky": "${steps.flaky.output.status}",
            },
        }
        pipeline = await save(api, "http", spec)
        done = await run_to_end(api, (await start(api, pipeline["id"], {"n": 5}))["id"])
        assert done["status"] == "completed", done
        assert done["result"] == {"echo": {"got": {"n": 5}, "token": "t-5"}, "flaky": 200}
        assert calls["flaky"] == 3  # 503, 429, then 200
        assert calls["missing"] == 1  # an unexpected 4xx is not retried
        gone = (await steps_of(api, done["id"]))["gone"]
        assert gone["error"]["type"] == "HttpUnexpectedStatus"
        assert "answered 404, expected 200, 204" in gone["error"]["message"]


async def test_an_endless_body_fails_the_step_once_and_a_full_one_is_read(
    allowed: Stack,
) -> None:
    app, calls = receiver()
    account = await new_tenant(allowed)
    async with serving(app) as url, allowed.client(account.key) as api:
        spec = {
            "steps": [
                {"id": "full", "kind": "http", "url": f"{url}/exactly"},
                {
                    "id": "endless",
                    "kind": "http",
                    "url": f"{url}/endless",
                    "dependsOn": ["full"],
                    "retry": {"maxAttempts": 3, "backoff": "10ms"},
                },
            ],
            "outputs": {"size": "${steps.full.output.status}"},
        }
        pipeline = await save(api, "endless", spec)
        done = await run_to_end(api, (await start(api, pipeline["id"]))["id"])
        assert done["status"] == "failed", done
        assert done["error"]["type"] == "HttpBodyTooLarge", done["error"]
        assert f"more than {MAX_BODY_BYTES:,} bytes" in done["error"]["message"]
        steps = await steps_of(api, done["id"])
        assert steps["full"]["status"] == "completed"  # exactly the limit is read whole
        assert steps["endless"]["status"] == "failed"
        assert calls["endless"] == 1  # too large is not retried
        for _ in range(100):  # it stopped reading and hung up
            if calls.get("hung_up") == 1:
                break
            await asyncio.sleep(0.05)
        assert calls.get("hung_up") == 1


async def test_an_answer_with_nul_characters_is_kept_as_it_came(allowed: Stack) -> None:
    app, _ = receiver()
    account = await new_tenant(allowed)
    async with serving(app) as url, allowed.client(account.key) as api:
        spec = {
            "steps": [
                {"id": "text", "kind": "http", "url": f"{url}/nul"},
                {"id": "json", "kind": "http", "url": f"{url}/nul?as=json"},
            ],
            "outputs": {"text": "${steps.text.output.body}", "json": "${steps.json.output.body}"},
        }
        pipeline = await save(api, "nul", spec)
        done = await run_to_end(api, (await start(api, pipeline["id"]))["id"])
        assert done["status"] == "completed", done
        assert done["result"] == {"text": "a\x00b\x01c", "json": {"v": "a\x00b"}}
        steps = await steps_of(api, done["id"])
        assert steps["text"]["output"]["body"] == "a\x00b\x01c"
        assert steps["json"]["output"]["body"] == {"v": "a\x00b"}


async def test_http_steps_refuse_private_addresses_unless_allowed(tenant: Tenant) -> None:
    api = tenant.api
    for url in (
        "http://127.0.0.1:9/x",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/",
    ):
        pipeline = await save(
            api,
            f"ssrf-{url.split('/')[2]}",
            {"steps": [{"id": "call", "kind": "http", "url": url}]},
        )
        done = await run_to_end(api, (await start(api, pipeline["id"]))["id"])
        assert done["status"] == "failed"
        assert done["error"]["type"] == "HttpAddressRefused", done["error"]
        assert "JOBDECK_PIPELINE_HTTP_ALLOW" in done["error"]["message"]


async def test_llm_steps_complete_chats_and_record_usage(allowed: Stack) -> None:
    chat: ChatFake = allowed.chat  # type: ignore[attr-defined]
    account = await new_tenant(allowed)
    async with allowed.client(account.key) as api:
        spec: dict[str, Any] = {
            "inputs": {"topic": {"type": "string"}},
            "steps": [
                {
                    "id": "write",
                    "kind": "llm",
                    "model": "gpt-4o-mini",
                    "system": "Be brief.",
                    "prompt": "One line about ${inputs.topic}.",
                },
                {
                    "id": "local",
                    "kind": "llm",
                    "provider": "ollama",
                    "model": "llama3",
                    "prompt": "Again: ${steps.write.output.text}",
                },
                {
                    "id": "structured",
                    "kind": "llm",
                    "model": "gpt-4o-mini",
                    "prompt": "Rate ${inputs.topic}",
                    "responseSchema": {
                        "type": "object",
                        "properties": {"score": {"type": "integer"}},
                    },
                },
            ],
            "outputs": {
                "text": "${steps.write.output.text}",
                "local": "${steps.local.output.text}",
                "score": "${steps.structured.output.json.score}",
            },
        }
        pipeline = await save(api, "llm", spec)
        done = await run_to_end(api, (await start(api, pipeline["id"], {"topic": "tea"}))["id"])
        assert done["status"] == "completed", done
        assert done["result"] == {
            "text": "echo: One line about tea.",
            "local": "echo: Again: echo: One line about tea.",
            "score": 7,
        }
        steps = await steps_of(api, done["id"])
        assert steps["write"]["details"]["usage"]["promptTokens"] == chat.prompt_tokens(
            "Be brief.One line about tea."
        )
        assert steps["local"]["details"]["provider"] == "ollama"
        by_prompt = {r["messages"][-1]["content"]: r for r in chat.requests}
        first = by_prompt["One line about tea."]
        assert first["messages"][0] == {"role": "system", "content": "Be brief."}
        assert by_prompt["Rate tea"]["response_format"]["type"] == "json_schema"
        assert set(chat.authorizations) == {"Bearer sk-test", None}  # Ollama: no key


async def test_an_llm_answer_that_breaks_its_response_schema_fails_the_step(
    allowed: Stack,
) -> None:
    """The fake answers {"score": 7}; a schema that caps the score at 5 fails the step,
    after its tries, naming the first violation."""
    chat: ChatFake = allowed.chat  # type: ignore[attr-defined]
    account = await new_tenant(allowed)
    async with allowed.client(account.key) as api:
        spec: dict[str, Any] = {
            "steps": [
                {
                    "id": "rate",
                    "kind": "llm",
                    "model": "gpt-4o-mini",
                    "prompt": "Rate tea, strictly",
                    "dependsOn": ["fine"],
                    "retry": {"maxAttempts": 2, "backoff": "10ms"},
                    "responseSchema": {
                        "type": "object",
                        "properties": {"score": {"type": "integer", "maximum": 5}},
                        "required": ["score"],
                    },
                },
                {
                    "id": "fine",
                    "kind": "llm",
                    "model": "gpt-4o-mini",
                    "prompt": "Rate tea, loosely",
                    "responseSchema": {
                        "type": "object",
                        "properties": {"score": {"type": "integer", "minimum": 1}},
                    },
                },
            ],
        }
        pipeline = await save(api, "strict-llm", spec)
        done = await run_to_end(api, (await start(api, pipeline["id"]))["id"])
        assert done["status"] == "failed", done
        assert done["error"]["type"] == "LlmBadOutput", done["error"]
        assert done["error"]["message"] == (
            "step rate failed: the answer does not follow the responseSchema: "
            "at /score: 7 is greater than the maximum of 5"
        )
        steps = await steps_of(api, done["id"])
        assert steps["rate"]["status"] == "failed"
        assert steps["fine"]["status"] == "completed"  # an answer that follows it passes
        assert steps["fine"]["output"]["json"] == {"score": 7}
        asked = [r for r in chat.requests if r["messages"][-1]["content"] == "Rate tea, strictly"]
        assert len(asked) == 2  # retried like an answer that is not JSON
