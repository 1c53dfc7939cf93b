"""A token bucket in integer thousandths of a token: `capacity` when full, refilled at
`rate` per second; taking `cost` either succeeds or says how long until it would."""

from __future__ import annotations

import math
from dataclasses import dataclass

MILLI = 1000


@dataclass(frozen=True)
class Bucket:
    """One limit: `per_minute` sustained, a full bucket holding `burst_s` seconds of it."""

    name: str  # what a person reads in a 429: "job creations per API key"
    key: str  # the stored bucket's key
    per_minute: float
    burst_s: float

    @property
    def capacity(self) -> int:
        return max(MILLI, round(self.per_minute * self.burst_s / 60 * MILLI))

    @property
    def refill_per_s(self) -> float:
        return self.per_minute / 60 * MILLI


def refilled(level: int | None, bucket: Bucket, elapsed_s: float) -> int:
    """The bucket's level now, from its stored level (None: new, so full)."""
    if level is None:
        return bucket.capacity
    return min(bucket.capacity, level + math.floor(max(0.0, elapsed_s) * bucket.refill_per_s))


def wait_for(level: int, bucket: Bucket, cost: int = MILLI) -> float:
    """Seconds until the bucket holds `cost` (0: it does now)."""
    if level >= cost:
        return 0.0
    return (cost - level) / bucket.refill_per_s
