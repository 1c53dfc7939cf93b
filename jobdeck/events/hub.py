"""Fan-out of job events to this process's subscribers (WebSocket connections).

Each event is serialised once and handed to every matching subscriber's bounded queue. A
subscriber whose queue is full is marked overflowed rather than waited for, so one slow
client neither slows the others nor grows memory without bound; it reconnects with
`after` and misses nothing."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from jobdeck.store.tables import JobEvent


@dataclass(frozen=True)
class FeedEvent:
    id: int
    organization_id: str
    job_id: str
    type: str
    status: str
    message: str  # the JSON text sent to clients

    @classmethod
    def of(cls, event: JobEvent) -> FeedEvent:
        job = event.data.get("job", {})
        body = {
            "type": "event",
            "event": {
                "id": event.id,
                "jobId": event.job_id,
                "kind": event.kind,
                "data": event.data,
                "createdAt": event.created_at.isoformat(),
            },
        }
        return cls(
            id=event.id,
            organization_id=event.organization_id,
            job_id=event.job_id,
            type=str(job.get("type", "")),
            status=str(job.get("status", "")),
            message=json.dumps(body, separators=(",", ":")),
        )


@dataclass
class FeedFilter:
    job_ids: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset()

    def matches(self, event: FeedEvent) -> bool:
        return (
            (not self.job_ids or event.job_id in self.job_ids)
            and (not self.types or event.type in self.types)
            and (not self.statuses or event.status in self.statuses)
        )


@dataclass(eq=False)
class Subscription:
    organization_id: str
    filter: FeedFilter
    queue: asyncio.Queue[FeedEvent]
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)


class Hub:
    def __init__(self, queue_size: int = 1000) -> None:
        self.queue_size = queue_size
        self._by_org: dict[str, set[Subscription]] = defaultdict(set)
        self.last_id = 0  # the newest event published
        self.published = 0
        # Set by each subscribe: wakes a tailer that idles while nobody listens.
        self.subscribed = asyncio.Event()

    def subscribe(self, organization_id: str, flt: FeedFilter) -> Subscription:
        sub = Subscription(organization_id, flt, asyncio.Queue(maxsize=self.queue_size))
        self._by_org[organization_id].add(sub)
        self.subscribed.set()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._by_org.get(sub.organization_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_org[sub.organization_id]

    @property
    def subscribers(self) -> int:
        return sum(len(s) for s in self._by_org.values())

    def publish(self, event: FeedEvent) -> None:
        self.last_id = max(self.last_id, event.id)
        self.published += 1
        for sub in self._by_org.get(event.organization_id, ()):
            if sub.overflowed.is_set() or not sub.filter.matches(event):
                continue
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.overflowed.set()

    def stats(self) -> dict[str, Any]:
        return {
            "subscribers": self.subscribers,
            "lastEventId": self.last_id,
            "published": self.published,
        }
