"""Where dataset files live, behind a small interface so object storage can be added.

Writers never write an object in place: they fill a local scratch file (`scratch()`), then
`put` moves the finished file under its key in one step, so a reader never sees half a
file and a failed or cancelled writer leaves nothing behind once it deletes its scratch.
Readers that need a seekable local file (Parquet, XLSX) use `local_path`; downloads use
`iter_bytes`. An object-storage backend would download to scratch in `local_path` and
upload in `put`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Protocol

from jobdeck.config import Settings
from jobdeck.dataformats import DatasetFormat, extension

CHUNK_BYTES = 1024 * 1024


class DatasetStorage(Protocol):
    def scratch(self, suffix: str = "") -> Path:
        """A fresh local path to write a new file to; the caller deletes it if unused."""
        ...

    async def put(self, key: str, source: Path) -> None:
        """Store a finished scratch file under `key` (replacing any), consuming `source`."""
        ...

    def local_path(self, key: str) -> contextlib.AbstractAsyncContextManager[Path]:
        """A local, seekable file with the object's bytes, for as long as the context."""
        ...

    def iter_bytes(self, key: str, chunk_bytes: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
        """The object's bytes, chunk by chunk."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; a missing one is not an error."""
        ...

    async def exists(self, key: str) -> bool: ...


def storage_key(organization_id: str, dataset_id: str, fmt: DatasetFormat) -> str:
    """Where a dataset's file lives: by organization, named by id, with the extension of
    its format (some readers, openpyxl for one, go by it)."""
    return f"{organization_id}/{dataset_id}{extension(fmt)}"


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


class LocalStorage:
    """Files in a folder: objects under `objects/`, scratch files under `scratch/` on the
    same file system, so `put` is an atomic rename."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.objects = self.root / "objects"
        self.scratch_dir = self.root / "scratch"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.scratch_dir.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.objects / key).resolve()
        # Keys are made by jobdeck, but a path must never escape the folder all the same.
        if not path.is_relative_to(self.objects):
            raise ValueError(f"storage key {key!r} leaves the storage folder")
        return path

    def scratch(self, suffix: str = "") -> Path:
        return self.scratch_dir / f"{uuid.uuid4().hex}{suffix}"

    async def put(self, key: str, source: Path) -> None:
        target = self._path(key)

        def move() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)

        await asyncio.to_thread(move)

    @asynccontextmanager
    async def local_path(self, key: str) -> AsyncIterator[Path]:
        path = self._path(key)
        if not await asyncio.to_thread(path.is_file):
            raise FileNotFoundError(f"no stored file for {key!r}")
        yield path

    async def iter_bytes(self, key: str, chunk_bytes: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(self._path(key).open, "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, chunk_bytes):
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(_remove, self._path(key))

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)


@cache
def _local(root: Path) -> LocalStorage:
    return LocalStorage(root)


def open_storage(settings: Settings) -> DatasetStorage:
    """The storage the settings name (a local folder is the only kind so far), one per
    folder for the life of the process."""
    return _local(settings.dataset_root.resolve())


def discard(path: Path) -> None:
    """Delete a scratch file if it is there (sync: conversion threads call it too)."""
    _remove(path)
