"""Provider budgets: the requests and tokens a minute that all of jobdeck's processes
together send to one provider account, so that a hundred workers do not earn a hundred
429s. Every provider call waits here for its share (transport.py does it, for every
client), in shared token buckets (jobdeck/fairness/shared.py: the database or Redis).

A provider account is its name, base URL and key: they are hashed into the buckets' keys,
so a key is never stored, and two keys (or an OpenAI-compatible server beside OpenAI)
have budgets of their own. Per account, a call draws from:

- the budget of settings (JOBDECK_PROVIDER_BUDGETS), requests and tokens, if set;
- the provider's own limits for the call's model as its last answer reported them
  (OpenAI's x-ratelimit-* headers; OpenAI limits each model on its own): mirror buckets
  of the provider's size, lowered to what it says remains, so calls slow down before a
  429 even with no budget set, or with one set too high;
- a pause gate, closed for everyone for as long as a 429 asks (Retry-After).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from jobdeck.clock import utcnow
from jobdeck.config import Settings
from jobdeck.fairness.bucket import MILLI, Bucket
from jobdeck.fairness.shared import Draw, SharedBuckets
from jobdeck.providers.headers import Window, window

logger = logging.getLogger(__name__)

# OpenAI's limits are per minute, and a full bucket holds the minute's worth.
_PROVIDER_BURST_S = 60.0
# The pause gate refills this fast: a pause of W seconds sets it W * rate below zero.
_GATE_PER_MINUTE = 60_000.0
# Sleep at most this long at a time inside a step, heartbeating between (a step's
# heartbeat timeout may be 30 s).
_BEAT_EVERY_S = 5.0


@dataclass(frozen=True)
class Account:
    """Whose budget a call spends: a provider name and a digest of its address and key."""

    provider: str
    digest: str

    @classmethod
    def of(cls, provider: str, base_url: str, api_key: str | None = None) -> Account:
        seen = f"{provider}\n{base_url.rstrip('/')}\n{api_key or ''}".encode()
        return cls(provider, hashlib.sha256(seen).hexdigest()[:16])

    def key(self, what: str) -> str:
        return f"provider:{self.provider}:{self.digest}:{what}"


class OverBudget(Exception):
    """The call would wait longer than it may (JOBDECK_PROVIDER_BUDGET_MAX_WAIT_S, or the
    step's time left): its caller gets a 429 and its own retry policy takes over."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"the provider budget frees up in {wait_s:.1f} s, past the wait allowed")
        self.wait_s = wait_s


@dataclass
class _Mirrors:
    """The provider's own limits as last reported to this process (per account)."""

    requests: Bucket | None = None
    tokens: Bucket | None = None


@dataclass
class ProviderBudgets:
    """One per process (the runtime's), shared by every provider client it builds."""

    settings: Settings
    buckets: SharedBuckets
    sleep: Callable[[float], Any] = asyncio.sleep
    mirrors: dict[tuple[Account, str], _Mirrors] = field(default_factory=dict)
    # A shorter wait than the setting's, for callers a person waits on (waiting_at_most).
    wait_cap_s: float | None = None
    # Called while a call waits: in a worker, the running step's heartbeat with its last
    # details (activities/outage.beat_again, set by worker.py), so a long wait neither
    # times the step out nor erases what a retry would resume from.
    keep_alive: Callable[[], None] = lambda: None

    def waiting_at_most(self, seconds: float) -> ProviderBudgets:
        """The same budgets, for calls that may wait `seconds` at most."""
        return dataclasses.replace(self, wait_cap_s=seconds)

    def configured(self, account: Account) -> tuple[Bucket | None, Bucket | None]:
        """The budget of settings for this account's provider: requests, tokens."""
        budget = self.settings.provider_budgets.get(account.provider)
        if budget is None:
            return None, None
        return (
            Bucket("requests a minute", account.key("rpm"), budget.rpm, budget.burst_s)
            if budget.rpm
            else None,
            Bucket("tokens a minute", account.key("tpm"), budget.tpm, budget.burst_s)
            if budget.tpm
            else None,
        )

    def _gate(self, account: Account) -> Bucket:
        return Bucket("pause after a 429", account.key("pause"), _GATE_PER_MINUTE, 1.0)

    def draws(self, account: Account, tokens: int, model: str | None = None) -> list[Draw]:
        """What one call of `tokens` tokens to `model` takes (the gate costs nothing: it
        only holds calls off while a pause keeps it below zero)."""
        mirrors = self.mirrors.get((account, model or "")) or _Mirrors()
        requests, token_budget = self.configured(account)
        found = [Draw(self._gate(account), 0)]
        found += [Draw(b, MILLI) for b in (requests, mirrors.requests) if b is not None]
        if tokens:
            found += [Draw(b, tokens * MILLI) for b in (token_budget, mirrors.tokens) if b]
        return found

    async def acquire(
        self, account: Account, tokens: int, model: str | None, *, max_wait_s: float
    ) -> None:
        """Wait until the call may go (raises OverBudget past `max_wait_s`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait_s
        draws = self.draws(account, tokens, model)
        while True:
            refused = await self.buckets.take(draws)
            if refused is None:
                return
            bucket, wait_s = refused
            if loop.time() + wait_s > deadline:
                raise OverBudget(wait_s)
            # A little spread, so that the callers woken together do not all collide.
            await self.wait(wait_s * (1 + random.random() * 0.05) + 0.001)

    async def wait(self, seconds: float) -> None:
        """Sleep, keeping the caller alive (see keep_alive) while it waits."""
        left = seconds
        while left > 0:
            self.keep_alive()
            step = min(_BEAT_EVERY_S, left)
            await self.sleep(step)
            left -= step

    async def observe(
        self, account: Account, model: str | None, headers: Mapping[str, str]
    ) -> None:
        """Follow what the provider says is left of its limits for `model` (x-ratelimit-*;
        a call that names no model has no such limits to follow). What it says is as of
        when it took the call: taken as of now, which errs on the slow side."""
        if model is None:
            return
        mirrors = self.mirrors.setdefault((account, model), _Mirrors())
        for kind in ("requests", "tokens"):
            reported = window(headers, kind)
            if reported is None:
                continue
            mirror = _mirror(account, model, kind, reported)
            setattr(mirrors, kind, mirror)
            if mirror is None:
                continue
            at_most = reported.remaining * MILLI
            if reported.remaining == 0:
                # None left: nobody calls before the provider's refill gives the next one
                # (a level below one token holds every process off until then).
                at_most = MILLI - round(reported.next_in_s() * mirror.refill_per_s)
            await self.buckets.lower(mirror, at_most)

    async def pause(self, account: Account, seconds: float) -> None:
        """Hold every process's calls to this account off for `seconds` (a 429)."""
        gate = self._gate(account)
        logger.warning(
            "provider rate limit reached: pausing its calls",
            extra={"provider": account.provider, "pause_s": round(seconds, 3)},
        )
        await self.buckets.lower(gate, -round(seconds * gate.refill_per_s))

    async def charge(self, account: Account, tokens: int) -> None:
        """Tokens a call used beyond what it drew (its answer's usage)."""
        _, token_budget = self.configured(account)
        if token_budget is not None and tokens > 0:
            await self.buckets.charge(token_budget, tokens * MILLI)

    def max_wait_s(self) -> float:
        """How long a call may wait: the setting, and inside a step the time it has left
        (a wait that outlasts the step would only be cut off)."""
        allowed = self.settings.provider_budget_max_wait_s
        if self.wait_cap_s is not None:
            allowed = min(allowed, self.wait_cap_s)
        from temporalio import activity

        if activity.in_activity():
            info = activity.info()
            if info.start_to_close_timeout is not None:
                deadline = info.started_time + info.start_to_close_timeout
                left = (deadline - utcnow() - timedelta(seconds=5)).total_seconds()
                allowed = min(allowed, max(0.0, left))
        return allowed


def _mirror(account: Account, model: str, kind: str, reported: Window) -> Bucket | None:
    """A bucket the provider's size (its limit a minute, a minute's worth when full)."""
    if not reported.limit:
        return None
    # The model's name is hashed too: keys stay short whatever it is.
    named = hashlib.sha256(model.encode()).hexdigest()[:12]
    return Bucket(
        f"the provider's {kind} a minute for {model}",
        account.key(f"reported-{kind}:{named}:{reported.limit}"),
        float(reported.limit),
        _PROVIDER_BURST_S,
    )
