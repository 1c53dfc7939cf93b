"""Call counters and scripted faults shared by both fakes.

Endpoints are named the way the clients name them (`"jobs.create"`, `"files.create"`,
`"pull"`, `"create"`...); `"*"` matches every endpoint. A fault answers the next `times`
matching requests (None: until `clear()`), then lets requests through again.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Fault:
    """A canned HTTP answer for the next `remaining` requests to `endpoint`; with `every`,
    only for every `every`-th matching request (the others go through and do not count
    against `remaining`). `echo_headers`: request headers the answer quotes back in its
    error message (as a careless provider or proxy does)."""

    endpoint: str
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    remaining: int | None = 1
    every: int | None = None
    echo_headers: tuple[str, ...] = ()
    seen: int = 0

    def matches(self, endpoint: str) -> bool:
        return self.remaining != 0 and self.endpoint in ("*", endpoint)

    def fires(self) -> bool:
        """Called once per matching request: whether this one gets the fault."""
        self.seen += 1
        return self.every is None or self.seen % self.every == 0

    def render(self, request_headers: Mapping[str, str]) -> dict[str, Any]:
        """The body to answer with, quoting the request headers it echoes."""
        if not self.echo_headers:
            return self.body
        body = copy.deepcopy(self.body)
        quoted = "; ".join(f"{h}: {request_headers.get(h, '')}" for h in self.echo_headers)
        target = body.get("error") if isinstance(body.get("error"), dict) else body
        if isinstance(target, dict):
            target["message"] = f"{target.get('message', '')} (request headers: {quoted})"
        else:
            body["error"] = f"{body.get('error', '')} (request headers: {quoted})"
        return body


@dataclass
class Delay:
    endpoint: str
    seconds: float
    remaining: int | None = None

    def matches(self, endpoint: str) -> bool:
        return self.remaining != 0 and self.endpoint in ("*", endpoint)


def _take(items: list[Any], endpoint: str) -> Any | None:
    for item in items:
        if item.matches(endpoint):
            if isinstance(item, Fault) and not item.fires():
                continue
            if item.remaining is not None:
                item.remaining -= 1
            return item
    return None


class FaultBook:
    """Counts every request per endpoint and hands out the scripted faults and delays.

    `calls[name]` counts every request that reached the endpoint, faulted or not;
    `faulted[name]` counts the ones answered with a scripted fault.
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.faulted: Counter[str] = Counter()
        self._faults: list[Fault] = []
        self._delays: list[Delay] = []

    def add_fault(
        self,
        endpoint: str,
        status: int,
        body: dict[str, Any],
        *,
        headers: dict[str, str] | None = None,
        times: int | None = 1,
        every: int | None = None,
        echo_headers: tuple[str, ...] = (),
    ) -> Fault:
        fault = Fault(endpoint, status, body, dict(headers or {}), times, every, echo_headers)
        self._faults.append(fault)
        return fault

    def slow(self, seconds: float, endpoint: str = "*", *, times: int | None = None) -> Delay:
        """Delay the response of matching requests by `seconds` of real time."""
        delay = Delay(endpoint, seconds, times)
        self._delays.append(delay)
        return delay

    def take_fault(self, endpoint: str) -> Fault | None:
        fault: Fault | None = _take(self._faults, endpoint)
        if fault is not None:
            self.faulted[endpoint] += 1
        return fault

    def take_delay(self, endpoint: str) -> float:
        delay: Delay | None = _take(self._delays, endpoint)
        return delay.seconds if delay is not None else 0.0

    def pending_faults(self) -> list[Fault]:
        return [fault for fault in self._faults if fault.remaining != 0]

    def clear(self) -> None:
        """Drop every scripted fault and delay (counters stay)."""
        self._faults.clear()
        self._delays.clear()

    def reset(self) -> None:
        """`clear()` and zero the counters."""
        self.clear()
        self.calls.clear()
        self.faulted.clear()
