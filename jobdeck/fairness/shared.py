"""Token buckets that every API and worker process draws from together: in the app
database (SQLite or PostgreSQL), or in Redis when JOBDECK_REDIS_URL is set. The API's
rate limits (one token a request) and the provider budgets (a request and its tokens)
both go through this one interface (the Redis one or the database's, chosen in
runtime.py: they import this vocabulary, so it imports neither).

A draw may cost more than a full bucket holds (a request of 8,000 tokens against a
bucket of 3,000): it goes through when the bucket is full and leaves it in debt, so that
the rate holds over time without refusing the request for ever."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from jobdeck.fairness.bucket import MILLI, Bucket, wait_for


@dataclass(frozen=True)
class Draw:
    """What one request takes from one bucket, in thousandths of a token."""

    bucket: Bucket
    cost: int = MILLI


def shortfall_s(level: int, draw: Draw) -> float:
    """Seconds until the bucket can give this draw (0: now); a draw larger than the
    bucket needs it full, not more."""
    return wait_for(level, draw.bucket, min(draw.cost, draw.bucket.capacity))


# What take_levels answers: the refusal (as `take`'s) or None, and when taken each drawn
# bucket's level after the draw (empty when refused).
Levels = tuple[tuple[Bucket, float] | None, dict[str, int]]


class SharedBuckets(Protocol):
    async def take(self, draws: Sequence[Draw]) -> tuple[Bucket, float] | None:
        """Take every draw, or none: None when taken, else the bucket that must refill
        first and the seconds it needs (the longest such wait)."""
        ...

    async def take_levels(self, draws: Sequence[Draw]) -> Levels:
        """`take`, with the levels it left when it took (for the RateLimit-* headers: the
        levels it computed anyway, so that no second read is needed)."""
        ...

    async def lower(self, bucket: Bucket, at_most: int) -> None:
        """Bring the bucket's level down to `at_most` thousandths if it is above (what a
        provider says is left; a negative level holds every draw off until it refills)."""
        ...

    async def charge(self, bucket: Bucket, cost: int) -> None:
        """Take `cost` more after the fact (a request that used more than it drew)."""
        ...

    async def levels(self, buckets: Sequence[Bucket]) -> dict[str, int]:
        """Each bucket's level now, refilled (a bucket never drawn from is full)."""
        ...

    async def aclose(self) -> None: ...
