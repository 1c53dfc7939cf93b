"""The `llm` step: one chat completion, through the official openai SDK against the
configured OpenAI-compatible endpoint (JOBDECK_OPENAI_BASE_URL, JOBDECK_OPENAI_API_KEY)
or Ollama's /api/chat (JOBDECK_OLLAMA_BASE_URL). Keys come from settings, never from the
spec; token usage is recorded on the step. With a `responseSchema` the answer is asked
for as JSON following it, parsed and checked against it; an answer that is not JSON, or
breaks the schema, is retried, and the last try's error names the first violation.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx
import openai
from temporalio.exceptions import ApplicationError

from jobdeck.config import Settings
from jobdeck.pipelines.jsonschemas import first_violation
from jobdeck.providers.transport import budgeted_client, openai_client

if TYPE_CHECKING:
    from jobdeck.providers.budgets import ProviderBudgets
    from jobdeck.runtime import Runtime


def _messages(step: dict[str, Any]) -> list[dict[str, str]]:
    messages = []
    if step.get("system"):
        messages.append({"role": "system", "content": str(step["system"])})
    messages.append({"role": "user", "content": str(step["prompt"])})
    return messages


async def _openai(
    settings: Settings, step: dict[str, Any], budgets: ProviderBudgets
) -> tuple[str, dict[str, Any]]:
    if settings.openai_api_key is None:
        raise ApplicationError(
            "llm steps with provider openai need JOBDECK_OPENAI_API_KEY",
            type="ProviderNotConfigured",
            non_retryable=True,
        )
    # No SDK retries: Temporal retries, with backoff; one layer only (a 429 is waited out
    # by the provider budget's transport).
    client = openai_client(budgets, settings, max_retries=0)
    options: dict[str, Any] = {}
    if step.get("temperature") is not None:
        options["temperature"] = step["temperature"]
    if step.get("maxTokens") is not None:
        options["max_tokens"] = step["maxTokens"]
    if step.get("responseSchema") is not None:
        options["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": step["responseSchema"]},
        }
    try:
        answer = await client.chat.completions.create(
            model=step["model"],
            messages=_messages(step),  # type: ignore[arg-type]
            **options,
        )
    except openai.APIStatusError as err:
        retryable = err.status_code == 429 or err.status_code >= 500
        raise ApplicationError(
            f"the chat completion failed: {err.status_code} {err.message}"[:1000],
            type="LlmRetryable" if retryable else "LlmFailed",
            non_retryable=not retryable,
        ) from None
    except openai.APIError as err:
        raise ApplicationError(
            f"the chat completion failed: {err}"[:1000], type="LlmRetryable"
        ) from None
    finally:
        await client.close()
    text = answer.choices[0].message.content or "" if answer.choices else ""
    usage = answer.usage
    tokens = {
        "promptTokens": usage.prompt_tokens if usage else None,
        "completionTokens": usage.completion_tokens if usage else None,
        "totalTokens": usage.total_tokens if usage else None,
    }
    return text, tokens


async def _ollama(
    settings: Settings, step: dict[str, Any], budgets: ProviderBudgets
) -> tuple[str, dict[str, Any]]:
    body: dict[str, Any] = {"model": step["model"], "messages": _messages(step), "stream": False}
    options: dict[str, Any] = {}
    if step.get("temperature") is not None:
        options["temperature"] = step["temperature"]
    if step.get("maxTokens") is not None:
        options["num_predict"] = step["maxTokens"]
    if options:
        body["options"] = options
    if step.get("responseSchema") is not None:
        body["format"] = step["responseSchema"]
    try:
        async with budgeted_client(
            budgets,
            "ollama",
            base_url=settings.ollama_base_url,
            timeout=settings.provider_timeout_s,
        ) as client:
            response = await client.post("/api/chat", json=body)
    except httpx.HTTPError as err:
        raise ApplicationError(
            f"Ollama unreachable: {err.__class__.__name__}", type="LlmRetryable"
        ) from None
    if response.status_code == 429 or response.status_code >= 500:
        raise ApplicationError(f"Ollama answered {response.status_code}", type="LlmRetryable")
    if response.status_code != 200:
        raise ApplicationError(
            f"Ollama answered {response.status_code}: {response.text[:500]}",
            type="LlmFailed",
            non_retryable=True,
        )
    data = response.json()
    prompt, completion = data.get("prompt_eval_count"), data.get("eval_count")
    tokens = {
        "promptTokens": prompt,
        "completionTokens": completion,
        "totalTokens": (prompt or 0) + (completion or 0) if prompt or completion else None,
    }
    return str((data.get("message") or {}).get("content") or ""), tokens


async def chat(
    settings: Settings, step: dict[str, Any], runtime: Runtime
) -> tuple[Any, dict[str, Any]]:
    provider = step.get("provider") or "openai"
    call = _ollama if provider == "ollama" else _openai
    text, tokens = await call(settings, step, runtime.budgets)
    output: dict[str, Any] = {"text": text, "model": step["model"], "usage": tokens}
    schema = step.get("responseSchema")
    if schema is not None:
        try:
            output["json"] = json.loads(text)
        except ValueError:
            raise ApplicationError(
                "the answer is not the JSON the responseSchema asks for",
                {"text": text[:500]},
                type="LlmBadOutput",
            ) from None
        # Retried like an answer that is not JSON: another answer may follow the schema.
        violation = first_violation(schema, output["json"])
        if violation is not None:
            raise ApplicationError(
                f"the answer does not follow the responseSchema: {violation}"[:1000],
                {"text": text[:500]},
                type="LlmBadOutput",
            )
    return output, {"usage": tokens, "provider": provider}
