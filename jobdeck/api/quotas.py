"""The storage quota at the API's uploads, checked twice: while the body streams in (an
upload past the room left stops there with 413, its scratch files removed) and in the
transaction that records it, under the organization's storage lock (what two concurrent
uploads, an archive's expansion or a replaced document add up to; over the quota the
transaction rolls back and the stored files are deleted by the route). Nothing is ever
half-stored."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from jobdeck.config import Settings
from jobdeck.errors import QuotaExceeded
from jobdeck.fairness.quotas import STORAGE_BYTES, Quotas, storage_refusal
from jobdeck.runtime import Runtime
from jobdeck.store import limits as limit_store
from jobdeck.store import quotas as quota_store


@dataclass(frozen=True)
class StorageRoom:
    """An organization's storage quota and what it had used when this was read."""

    quota: int
    usage: int
    # Bytes an upload may replace rather than add (a collection's documents of the same
    # names): while streaming, the room is as large as if they were gone.
    replaceable: int = 0

    @property
    def left(self) -> int:
        return max(0, self.quota - self.usage + self.replaceable)

    def refuse(self, adding: int) -> QuotaExceeded:
        return QuotaExceeded(
            storage_refusal(quota=self.quota, usage=self.usage, adding=adding),
            quota=STORAGE_BYTES,
            limit=self.quota,
            usage=self.usage,
            adding=adding,
        )


async def _room(
    session: AsyncSession, settings: Settings, organization_id: str
) -> StorageRoom | None:
    overrides = await limit_store.overrides(session, organization_id=organization_id)
    quota = Quotas.of(settings, overrides).storage_bytes
    if quota is None:
        return None
    used = await quota_store.storage_used(session, organization_id=organization_id)
    return StorageRoom(quota, used)


async def storage_room(
    runtime: Runtime, organization_id: str, *, collection_id: str | None = None
) -> StorageRoom | None:
    """The room an upload has before it starts (None: no quota); into a collection, with
    room for replacing its documents too (the check at commit counts what is replaced)."""
    async with runtime.db.read() as session:
        room = await _room(session, runtime.settings, organization_id)
        if room is None or collection_id is None:
            return room
        replaceable = await quota_store.collection_bytes(session, collection_id=collection_id)
    return dataclasses.replace(room, replaceable=replaceable)


async def hold_storage(
    session: AsyncSession, settings: Settings, organization_id: str
) -> StorageRoom | None:
    """In the transaction that will record files: lock the organization's storage and
    read its room (pass it to `check_storage` once the rows are written)."""
    await quota_store.lock_storage(session, organization_id=organization_id)
    return await _room(session, settings, organization_id)


async def check_storage(
    session: AsyncSession, room: StorageRoom | None, organization_id: str
) -> None:
    """After the rows are written, before commit: over the quota, refuse (roll back)."""
    if room is None:
        return
    after = await quota_store.storage_used(session, organization_id=organization_id)
    if after > room.quota:
        raise room.refuse(after - room.usage)
