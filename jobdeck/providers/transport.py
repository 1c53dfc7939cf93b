"""The one door of every provider call: an httpx transport that waits for the call's
share of its provider budget (budgets.py), follows the provider's rate-limit headers, and
waits out a 429 (for every process: a shared pause) and sends the call again, so that a
429 does not reach the job while the wait is within JOBDECK_PROVIDER_BUDGET_MAX_WAIT_S
and the step's time. The OpenAI SDK and the httpx clients for Ollama are built here.

A 429 that waiting cannot help (OpenAI's insufficient_quota), or a request whose body
cannot be sent twice (a streamed upload), is handed to the caller as it came."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable
from types import ModuleType
from typing import TYPE_CHECKING, Any

import httpx

from jobdeck.providers import tokens as token_counts
from jobdeck.providers.budgets import Account, OverBudget, ProviderBudgets
from jobdeck.providers.headers import retry_after_s, window
from jobdeck.store.engine import is_outage

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    import openai

    from jobdeck.config import Settings

# A 429 with no Retry-After nor reset header waits this long before the call goes again.
DEFAULT_PAUSE_S = 1.0
# Answers read for their usage (chat answers); larger ones (embeddings) are not held.
_USAGE_BYTES = 1024 * 1024
_NOT_RATE_LIMITS = ("insufficient_quota", "billing_hard_limit_reached")


def _pause_s(response: httpx.Response) -> float:
    """How long a 429 asks to wait: Retry-After, else the reset of the exhausted limit."""
    asked = retry_after_s(response.headers)
    if asked is not None:
        return asked
    resets = [
        w.reset_s
        for w in (window(response.headers, k) for k in ("requests", "tokens"))
        if w is not None and w.remaining == 0
    ]
    return max(resets) if resets else DEFAULT_PAUSE_S


async def _peek(
    hx: ModuleType, request: httpx.Request, response: httpx.Response
) -> tuple[httpx.Response, bytes]:
    """The response's body read (decoded), and a response just like it to hand on."""
    raw = b"".join([chunk async for chunk in response.aiter_raw()])
    await response.aclose()
    again: httpx.Response = hx.Response(
        response.status_code,
        headers=response.headers,
        content=raw,  # read (and decoded) at once, as the client would have
        request=request,
        extensions=response.extensions,
    )
    return again, again.content


def _waiting_helps(body: bytes) -> bool:
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return True
    code = error.get("code") if isinstance(error, dict) else None
    return code not in _NOT_RATE_LIMITS


async def _keep_books(work: Awaitable[None], what: str) -> bool:
    """Budget bookkeeping after the provider answered: the answer is paid for, so a budget
    store that cannot be reached (the database or Redis down) costs the budget what it
    would have learnt this once, not the caller its answer. False when it was skipped."""
    try:
        await work
    except Exception as err:
        if not is_outage(err):
            raise
        first_line = (str(err) or repr(err)).splitlines()[0][:300]
        logger.warning(
            f"the provider budgets' store is unreachable: {what} skipped",
            extra={"error": first_line},
        )
        return False
    return True


def _over_budget(hx: ModuleType, request: httpx.Request, err: OverBudget) -> httpx.Response:
    """A 429 as a provider would answer it, for a call that may not wait so long."""
    retry = max(1, round(err.wait_s))
    response: httpx.Response = hx.Response(
        429,
        headers={"retry-after": str(retry)},
        json={
            "error": {
                "message": f"jobdeck's provider budget is spent for now: {err}",
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        },
        request=request,
    )
    return response


class BudgetedTransport(httpx.AsyncBaseTransport):
    """`hx` is the httpx the client comes from: the OpenAI SDK's is a fork of its own
    (httpx2), with the same API."""

    def __init__(
        self,
        budgets: ProviderBudgets,
        account: Account,
        inner: httpx.AsyncBaseTransport | None = None,
        *,
        hx: ModuleType = httpx,
    ) -> None:
        self.budgets = budgets
        self.account = account
        self.hx = hx
        self.inner: httpx.AsyncBaseTransport = inner or hx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.budgets.max_wait_s()
        # Bodies the SDKs build are bytes (sent again as they are); a streamed one is not.
        body = request.content if isinstance(request.stream, self.hx.ByteStream) else None
        weighed = token_counts.weigh(body or b"", request.headers.get("content-type", ""))
        cost = weighed.tokens
        while True:
            try:
                await self.budgets.acquire(
                    self.account,
                    cost,
                    weighed.model,
                    max_wait_s=max(0.0, deadline - loop.time()),
                )
            except OverBudget as err:
                return _over_budget(self.hx, request, err)
            response = await self.inner.handle_async_request(request)
            await _keep_books(
                self.budgets.observe(self.account, weighed.model, response.headers),
                "following the provider's rate-limit headers",
            )
            if response.status_code == 429:
                response, answer = await _peek(self.hx, request, response)
                if body is None or not _waiting_helps(answer):
                    return response
                pause = _pause_s(response)
                if loop.time() + pause > deadline:
                    return response
                if not await _keep_books(
                    self.budgets.pause(self.account, pause), "pausing the provider's calls"
                ):
                    await self.budgets.wait(pause)  # this process at least holds off
                continue
            return await self._charge_usage(request, response, cost)

    async def _charge_usage(
        self, request: httpx.Request, response: httpx.Response, cost: int
    ) -> httpx.Response:
        """Charge the tokens an answer reports beyond the estimate drawn before it."""
        length = response.headers.get("content-length", "")
        if (
            response.status_code != 200
            or "application/json" not in response.headers.get("content-type", "")
            or not length.isdigit()
            or int(length) > _USAGE_BYTES
        ):
            return response
        response, answer = await _peek(self.hx, request, response)
        used = token_counts.used(answer)
        if used is not None and used > cost:
            await _keep_books(
                self.budgets.charge(self.account, used - cost), "charging the tokens used"
            )
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def budgeted_client(
    budgets: ProviderBudgets | None,
    provider: str,
    *,
    base_url: str,
    api_key: str | None = None,
    **options: Any,
) -> httpx.AsyncClient:
    """An httpx client for `provider` whose every call spends from its budget (`budgets`
    None: a plain client, for code outside a worker or API process)."""
    if budgets is None:
        return httpx.AsyncClient(base_url=base_url, **options)
    transport = BudgetedTransport(budgets, Account.of(provider, base_url, api_key))
    return httpx.AsyncClient(base_url=base_url, transport=transport, **options)


OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"


def openai_client(
    budgets: ProviderBudgets | None,
    settings: Settings,
    *,
    max_retries: int = 0,
) -> openai.AsyncOpenAI:
    """The OpenAI SDK's client for the configured endpoint and key, its calls budgeted."""
    import openai

    assert settings.openai_api_key is not None
    key = settings.openai_api_key.get_secret_value()
    http_client = None
    if budgets is not None:
        account = Account.of("openai", settings.openai_base_url or OPENAI_DEFAULT_BASE_URL, key)
        # The SDK's own httpx (httpx2 in openai 3), whose client it checks it is given;
        # the transport speaks either (their transport API is the same).
        hx = sys.modules[openai.DefaultAsyncHttpxClient.__mro__[1].__module__.partition(".")[0]]
        transport: Any = BudgetedTransport(budgets, account, hx=hx)
        http_client = openai.DefaultAsyncHttpxClient(transport=transport)
    return openai.AsyncOpenAI(
        api_key=key,
        base_url=settings.openai_base_url,
        max_retries=max_retries,
        timeout=settings.provider_timeout_s,
        http_client=http_client,
    )
