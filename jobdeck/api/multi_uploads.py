"""Receiving many files in one multipart request (documents into a collection): each file
part is written as it arrives to its own storage scratch file, hashed and counted on the
way, so nothing is held in memory. The files together may be `max_bytes` at most and
there may be `max_files` of them; past either the request ends with 413, and on that or
any other failure every scratch file is deleted.

Every part must be a file, in the form field `file` (or `files`): no text fields are read.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from fastapi import HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from jobdeck.api.text import find_unstorable, validation_error
from jobdeck.dataset_files import DatasetStorage, discard

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

    from jobdeck.api.quotas import StorageRoom

FILE_FIELDS = ("file", "files")


@dataclass
class ReceivedFile:
    path: Path  # the scratch file; the caller stores or discards it
    filename: str
    size: int = 0
    sha256: str = ""
    digest: hashlib._Hash = field(default_factory=hashlib.sha256, repr=False)


def _bad(message: str) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, message)


def _too_large(max_bytes: int) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"the files are larger together than the upload limit of {max_bytes:,} bytes "
        "(JOBDECK_DATASET_MAX_UPLOAD_BYTES)",
    )


class _Receiver:
    """python-multipart callbacks: data is queued by file number and written off the
    event loop by `receive_files`."""

    def __init__(self, max_bytes: int, max_files: int, room: StorageRoom | None) -> None:
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.room = room
        self.headers: dict[bytes, bytes] = {}
        self.header_name = b""
        self.header_value = b""
        self.filenames: list[str] = []
        self.pending: list[tuple[int, bytes]] = []
        self.size = 0

    def on_part_begin(self) -> None:
        self.headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_name.lower()] = self.header_value
        self.header_name, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name not in FILE_FIELDS or b"filename" not in options:
            raise _bad(f"send only files, each in the form field {FILE_FIELDS[0]!r}")
        if len(self.filenames) >= self.max_files:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE,
                f"more than {self.max_files:,} files in one upload "
                "(JOBDECK_DOCUMENT_UPLOAD_MAX_FILES)",
            )
        self.filenames.append(options[b"filename"].decode("utf-8", "replace"))
        self.pending.append((len(self.filenames) - 1, b""))  # opens its file, even if empty

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self.size += end - start
        if self.size > self.max_bytes:
            raise _too_large(self.max_bytes)
        if self.room is not None and self.size > self.room.left:
            raise self.room.refuse(self.size)
        self.pending.append((len(self.filenames) - 1, data[start:end]))

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
        }


class _Writer:
    """The scratch files, written in order (parts arrive one after another)."""

    def __init__(self, storage: DatasetStorage) -> None:
        self.storage = storage
        self.files: list[ReceivedFile] = []
        self.handle: IO[bytes] | None = None

    def write(self, filenames: list[str], chunks: list[tuple[int, bytes]]) -> None:
        for number, chunk in chunks:
            if number == len(self.files):
                self.close()
                path = self.storage.scratch()
                self.files.append(ReceivedFile(path=path, filename=filenames[number]))
                self.handle = path.open("wb")
            current = self.files[number]
            assert self.handle is not None
            current.digest.update(chunk)
            current.size += len(chunk)
            self.handle.write(chunk)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def discard(self) -> None:
        self.close()
        for received in self.files:
            discard(received.path)


async def receive_files(
    request: Request,
    storage: DatasetStorage,
    *,
    max_bytes: int,
    max_files: int,
    room: StorageRoom | None = None,
) -> list[ReceivedFile]:
    """The request's files in scratch files, in the order sent (at least one); past the
    `room` left in the organization's storage quota, a 413 and nothing kept."""
    kind, params = parse_options_header(request.headers.get("content-type", ""))
    if kind != b"multipart/form-data" or b"boundary" not in params:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"upload the files as multipart/form-data, each in a {FILE_FIELDS[0]!r} field",
        )
    declared = request.headers.get("content-length", "")
    # The body also holds the multipart framing: allow it some room per file.
    if declared.isdigit() and int(declared) > max_bytes + max_files * 1024 + 64 * 1024:
        raise _too_large(max_bytes)
    if (
        room is not None
        and declared.isdigit()
        and int(declared) > room.left + max_files * 1024 + 64 * 1024
    ):
        raise room.refuse(int(declared))
    receiver = _Receiver(max_bytes, max_files, room)
    parser = MultipartParser(params[b"boundary"], receiver.callbacks())
    writer = _Writer(storage)
    try:
        try:
            async for chunk in request.stream():
                parser.write(chunk)
                if receiver.pending:
                    chunks, receiver.pending = receiver.pending, []
                    await asyncio.to_thread(writer.write, receiver.filenames, chunks)
            parser.finalize()
        except FormParserError as err:
            raise _bad(f"the multipart body is malformed: {err}") from None
        if not receiver.filenames:
            raise _bad(f"no file in the upload: send each in the form field {FILE_FIELDS[0]!r}")
        _check_storable(receiver.filenames)
        await asyncio.to_thread(writer.close)
    except BaseException:
        # A 413, a bad name or a client gone mid-upload: nothing is left behind.
        await asyncio.to_thread(writer.discard)
        raise
    for received in writer.files:
        received.sha256 = received.digest.hexdigest()
    return writer.files


def _check_storable(filenames: list[str]) -> None:
    errors = []
    for number, name in enumerate(filenames):
        problem = find_unstorable(name)
        if problem is not None:
            errors.append(validation_error(f"files[{number}].filename", problem))
    if errors:
        raise RequestValidationError(errors)
