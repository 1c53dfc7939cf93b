"""The storage quota at the API's uploads, checked twice: while the body streams in (an
upload past the room left stops there with 413, its scratch files removed) and in the
transaction that records it, under the organization's storage lock (what two concurrent
uploads, an archive's expansion or a replaced document add up to; over the quota the
transaction rolls back and the stored files are deleted by the route). Nothing is ever
half-stored. The room and the checks themselves live in the store (store/quotas.py), so
that pipeline activities writing large step outputs hold to the same quota."""

from __future__ import annotations

import dataclasses

from jobdeck.runtime import Runtime
from jobdeck.store import quotas as quota_store
from jobdeck.store.quotas import StorageRoom, check_storage, hold_storage

__all__ = ["StorageRoom", "check_storage", "hold_storage", "storage_room"]


async def storage_room(
    runtime: Runtime, organization_id: str, *, collection_id: str | None = None
) -> StorageRoom | None:
    """The room an upload has before it starts (None: no quota); into a collection, with
    room for replacing its documents too (the check at commit counts what is replaced)."""
    async with runtime.db.read() as session:
        room = await quota_store.read_room(session, runtime.settings, organization_id)
        if room is None or collection_id is None:
            return room
        replaceable = await quota_store.collection_bytes(session, collection_id=collection_id)
    return dataclasses.replace(room, replaceable=replaceable)
