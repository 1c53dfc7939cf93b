"""Shared token buckets in Redis (JOBDECK_REDIS_URL): the same buckets as the database
keeps (jobdeck/store/buckets.py), each a hash {l: level in thousandths, t: microseconds}
changed by a Lua script, so that a draw over several buckets is one atomic step whatever
the number of processes. Time is Redis's own (TIME), so the processes' clocks need not
agree. A bucket left alone expires once it would be full again: a missing one is full.

A Redis Cluster needs a draw's keys in one slot; jobdeck's draws span keys of one API key
and its organization, or of one provider, so use a single Redis (or a replica set)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jobdeck.fairness.bucket import Bucket
from jobdeck.fairness.shared import Draw, Levels

PREFIX = "jobdeck:bucket:"

# refill(key, capacity, rate per second, now): the bucket's level now.
_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function refill(key, capacity, rate)
  local state = redis.call('HMGET', key, 'l', 't')
  if not state[1] then return capacity end
  local elapsed = math.max(0, now - tonumber(state[2]))
  return math.min(capacity, tonumber(state[1]) + math.floor(elapsed * rate / 1000000))
end
local function store(key, level, capacity, rate)
  redis.call('HSET', key, 'l', string.format('%.0f', level), 't', string.format('%.0f', now))
  local ttl = math.ceil((capacity - level) / rate * 1000) + 1000
  redis.call('PEXPIRE', key, math.max(1000, ttl))
end
"""

# KEYS: the buckets; ARGV: capacity, rate, cost for each. {0, each level after the draw
# as text} when taken, else {the 1-based index of the bucket to wait for, the seconds as
# text}.
_TAKE = (
    _PRELUDE
    + """
local levels, worst, wait = {}, 0, 0
for i = 1, #KEYS do
  local capacity, rate, cost = tonumber(ARGV[3*i-2]), tonumber(ARGV[3*i-1]), tonumber(ARGV[3*i])
  levels[i] = refill(KEYS[i], capacity, rate)
  local need = math.min(cost, capacity)
  if levels[i] < need and (need - levels[i]) / rate > wait then
    worst, wait = i, (need - levels[i]) / rate
  end
end
if worst > 0 then return {worst, tostring(wait)} end
local out = {0}
for i = 1, #KEYS do
  local left = levels[i] - tonumber(ARGV[3*i])
  store(KEYS[i], left, tonumber(ARGV[3*i-2]), tonumber(ARGV[3*i-1]))
  out[i + 1] = string.format('%.0f', left)
end
return out
"""
)

# KEYS[1]; ARGV: capacity, rate, at_most
_LOWER = (
    _PRELUDE
    + """
local capacity, rate, at_most = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local level = refill(KEYS[1], capacity, rate)
if level > at_most then store(KEYS[1], at_most, capacity, rate) end
return 0
"""
)

# KEYS[1]; ARGV: capacity, rate, cost
_CHARGE = (
    _PRELUDE
    + """
local capacity, rate = tonumber(ARGV[1]), tonumber(ARGV[2])
store(KEYS[1], refill(KEYS[1], capacity, rate) - tonumber(ARGV[3]), capacity, rate)
return 0
"""
)

# KEYS: the buckets; ARGV: capacity, rate for each; their levels as text.
_LEVELS = (
    _PRELUDE
    + """
local out = {}
for i = 1, #KEYS do
  out[i] = string.format('%.0f', refill(KEYS[i], tonumber(ARGV[2*i-1]), tonumber(ARGV[2*i])))
end
return out
"""
)


def _shape(bucket: Bucket) -> list[Any]:
    return [bucket.capacity, bucket.refill_per_s]


class RedisBuckets:
    """SharedBuckets in Redis: one script call per draw."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self.client = redis.Redis.from_url(url)
        self._take = self.client.register_script(_TAKE)
        self._lower = self.client.register_script(_LOWER)
        self._charge = self.client.register_script(_CHARGE)
        self._levels = self.client.register_script(_LEVELS)

    async def take(self, draws: Sequence[Draw]) -> tuple[Bucket, float] | None:
        refused, _ = await self.take_levels(draws)
        return refused

    async def take_levels(self, draws: Sequence[Draw]) -> Levels:
        if not draws:
            return None, {}
        args: list[Any] = []
        for draw in draws:
            args += [*_shape(draw.bucket), draw.cost]
        answer = await self._take(keys=[PREFIX + d.bucket.key for d in draws], args=args)
        if int(answer[0]) == 0:
            left = answer[1:]
            return None, {d.bucket.key: int(level) for d, level in zip(draws, left, strict=True)}
        return (draws[int(answer[0]) - 1].bucket, float(answer[1])), {}

    async def lower(self, bucket: Bucket, at_most: int) -> None:
        await self._lower(keys=[PREFIX + bucket.key], args=[*_shape(bucket), at_most])

    async def charge(self, bucket: Bucket, cost: int) -> None:
        await self._charge(keys=[PREFIX + bucket.key], args=[*_shape(bucket), cost])

    async def levels(self, buckets: Sequence[Bucket]) -> dict[str, int]:
        if not buckets:
            return {}
        args: list[Any] = []
        for bucket in buckets:
            args += _shape(bucket)
        answer = await self._levels(keys=[PREFIX + b.key for b in buckets], args=args)
        return {b.key: int(level) for b, level in zip(buckets, answer, strict=True)}

    async def aclose(self) -> None:
        await self.client.aclose()
