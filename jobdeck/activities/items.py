"""The item runner, activity side: work a job's items (documents, bulk targets) in chunks,
writing each chunk's outcomes in one statement and then heartbeating a checkpoint.

A job type's activities call `ItemRunner.seed` once (list the items, or on a retry of a
finished job take over only the items it did not finish) and then `ItemRunner.work` in a
loop (see workflows/items.py), each call working up to `max_items` items or
`max_seconds`, whichever comes first. The table is the checkpoint: only `pending` items
are worked, so an attempt that follows a SIGKILLed worker redoes at most the one chunk
whose outcomes were not written yet; the heartbeat carries the last written item number so
the next attempt starts its scan there.

A chunk's outcomes are written whatever happens to the database meanwhile: the write waits
out an outage inside the call (activities/outage.py: `outlast`), heartbeating, rather than
failing the call, whose next run would work the chunk again (a chunk of llm items or
remote embeddings is paid for once). Writing an outcome again is harmless (by primary key,
the same values), so a commit whose answer was lost with the connection costs nothing.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from jobdeck.activities.outage import outlast
from jobdeck.activities.progress import ProgressReporter
from jobdeck.activities.records import JobRecords
from jobdeck.clock import utcnow
from jobdeck.store import items as item_store
from jobdeck.store.engine import Database
from jobdeck.store.items import Item, ItemStatus, NewItem, Outcome

SEED_BATCH = 2000
MAX_NOTES = 100


@dataclass
class ItemSeedInput:
    job_id: str
    organization_id: str
    user_id: str
    retry_of: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class ItemSeedResult:
    total: int


@dataclass
class ItemBatchInput:
    job_id: str
    organization_id: str
    user_id: str
    total: int
    after_seq: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    chunk_size: int = 100
    max_items: int = 5000
    max_seconds: float = 60.0


@dataclass
class ItemBatchResult:
    last_seq: int
    finished: bool
    processed: int  # by this call
    # The job's items by status, counted in the table when finished (else this call's).
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the handler noted (e.g. new ids)


class ItemHandler(Protocol):
    """What a job type does with a chunk of its items."""

    notes: list[str]  # up to MAX_NOTES ids or words the workflow wants back

    async def handle(self, items: Sequence[Item]) -> list[Outcome]:
        """One outcome per item (an item left out is marked failed)."""
        ...

    def message(self, done: int, total: int) -> str | None:
        """The progress line after a chunk (None: "<done> of <total> <unit>")."""
        ...


class ItemRunner:
    def __init__(self, db: Database, records: JobRecords) -> None:
        self.db = db
        self.records = records
        self._last_beat: tuple[Any, ...] = ()

    async def seed(
        self, run: ItemSeedInput, source: Callable[[], AsyncIterator[Sequence[NewItem]]]
    ) -> ItemSeedResult:
        """List the job's items: what `source` yields, in order, or on a retry of a job that
        listed its items, that job's unfinished items only. A retried attempt starts over
        (nothing is worked before seeding has returned)."""
        async with self.db.read() as session:
            # Items of an earlier try of this step (or of a reset run) go before any is
            # written; a first try has none to clear (a read, not a write).
            stale = await item_store.has_items(session, job_id=run.job_id)
            take_over = run.retry_of is not None and await item_store.has_items(
                session, job_id=run.retry_of
            )
        if stale:
            async with self.db.write() as session:
                await item_store.clear_items(session, job_id=run.job_id)
        batches = self._unfinished(run.retry_of) if take_over and run.retry_of else source()
        total = 0
        async for batch in batches:
            if not batch:
                continue
            first = total + 1
            total += len(batch)
            await self.db.transact(partial(self._insert, run.job_id, first, batch))
            activity.heartbeat(total)
        return ItemSeedResult(total=total)

    @staticmethod
    async def _insert(
        job_id: str, first: int, batch: Sequence[NewItem], session: AsyncSession
    ) -> None:
        await item_store.insert_items(
            session, job_id=job_id, first_seq=first, items=batch, now=utcnow()
        )

    @staticmethod
    async def _write(job_id: str, outcomes: list[Outcome], session: AsyncSession) -> None:
        await item_store.write_outcomes(session, job_id=job_id, outcomes=outcomes, now=utcnow())

    async def _unfinished(self, job_id: str) -> AsyncIterator[Sequence[NewItem]]:
        after = 0
        while True:
            async with self.db.read() as session:
                rows = await item_store.unfinished_items(
                    session, job_id=job_id, after_seq=after, limit=SEED_BATCH
                )
            if not rows:
                return
            after = rows[-1].seq
            yield [NewItem(r.key, r.details) for r in rows]

    async def work(
        self, batch: ItemBatchInput, handler: ItemHandler, *, unit: str, stage: str
    ) -> ItemBatchResult:
        info = activity.info()
        lane, lanes = int(batch.params.get("lane", 0)), int(batch.params.get("lanes", 1))
        after = batch.after_seq
        if info.heartbeat_details and isinstance(info.heartbeat_details[-1], dict):
            after = max(after, int(info.heartbeat_details[-1].get("afterSeq", 0)))
        async with self.db.read() as session:
            counts = await item_store.count_by_status(session, job_id=batch.job_id)
        done = sum(counts.values()) - counts[ItemStatus.PENDING]
        processed = 0
        own: dict[str, int] = {}
        started = time.monotonic()
        finished = False
        async with ProgressReporter(
            self.records, job_id=batch.job_id, total=batch.total, unit=unit, stage=stage
        ) as progress:
            while True:
                async with self.db.read() as session:
                    items = await item_store.pending_items(
                        session,
                        job_id=batch.job_id,
                        after_seq=after,
                        limit=batch.chunk_size,
                        lane=lane,
                        lanes=lanes,
                    )
                if not items:
                    finished = True
                    break
                outcomes = _complete(items, await handler.handle(items))
                await outlast(
                    partial(self.db.transact, partial(self._write, batch.job_id, outcomes)),
                    what="writing a chunk's outcomes",
                )
                for outcome in outcomes:
                    own[outcome.status.value] = own.get(outcome.status.value, 0) + 1
                after = items[-1].seq
                processed += len(items)
                current = done + processed
                if lanes > 1:  # the other lanes worked meanwhile too
                    async with self.db.read() as session:
                        current = await item_store.count_done(session, job_id=batch.job_id)
                message = handler.message(current, batch.total) or (
                    f"{current} of {batch.total} {unit}"
                )
                await progress.update(current, message=message, details={"afterSeq": after})
                if processed >= batch.max_items or time.monotonic() - started >= batch.max_seconds:
                    # Saves the workflow a call that would only find the end.
                    async with self.db.read() as session:
                        finished = not await item_store.pending_items(
                            session,
                            job_id=batch.job_id,
                            after_seq=after,
                            limit=1,
                            lane=lane,
                            lanes=lanes,
                        )
                    break
        if finished:
            async with self.db.read() as session:
                own = await item_store.count_by_status(session, job_id=batch.job_id)
        return ItemBatchResult(
            last_seq=after,
            finished=finished,
            processed=processed,
            counts=own,
            notes=handler.notes[:MAX_NOTES],
        )


def _complete(items: Sequence[Item], outcomes: list[Outcome]) -> list[Outcome]:
    given = {o.seq for o in outcomes}
    missing = [
        Outcome(i.seq, ItemStatus.FAILED, error="the job type gave no outcome for this item")
        for i in items
        if i.seq not in given
    ]
    return outcomes + missing


class HandlerBase:
    """A handler's defaults: no notes, the runner's progress line."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def message(self, done: int, total: int) -> str | None:
        return None
