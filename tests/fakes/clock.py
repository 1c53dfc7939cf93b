"""A settable clock for the fake provider servers.

The fakes never read the wall clock directly: a job's timeline (validating, queued, running,
finished) is computed from its `created_at` and `clock.now()`. A test freezes the clock
(`speed=0`, the default) and moves it with `advance()`, so a "two-hour" fine-tune finishes the
moment the test says so; a person running a fake by hand lets it run at `speed` x real time.
"""

from __future__ import annotations

import time


class FakeClock:
    """Seconds since the epoch: frozen (`speed=0`) or running at `speed` x real time.

    Either way `advance()` and `set()` move it. It never moves backwards, so a job's history,
    once reported, stays the same.
    """

    def __init__(self, start: float | None = None, *, speed: float = 0.0) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._base = time.time() if start is None else float(start)
        self._anchor = time.monotonic()
        self._speed = float(speed)

    def now(self) -> float:
        return self._base + (time.monotonic() - self._anchor) * self._speed

    def timestamp(self) -> int:
        """`now()` as the whole Unix seconds the APIs report."""
        return int(self.now())

    @property
    def speed(self) -> float:
        return self._speed

    def set_speed(self, speed: float) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._rebase()
        self._speed = float(speed)

    def advance(self, seconds: float) -> float:
        """Move the clock forward by `seconds`; returns the new `now()`."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._rebase()
        self._base += seconds
        return self._base

    def set(self, when: float) -> None:
        """Jump to the Unix time `when` (not earlier than now)."""
        now = self.now()
        if when < now:
            raise ValueError(f"the clock only moves forward ({when} < {now})")
        self.advance(when - now)

    def _rebase(self) -> None:
        self._base = self.now()
        self._anchor = time.monotonic()

    def __repr__(self) -> str:
        return f"FakeClock(now={self.now():.3f}, speed={self._speed})"
