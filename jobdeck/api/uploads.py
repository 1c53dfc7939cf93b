"""Receiving a dataset upload: the multipart body is parsed as it arrives and the file
part written straight to a storage scratch file, hashed and counted on the way, so no
upload is held in memory or spooled twice. Over the size limit the request ends with 413
and the scratch file is deleted; so it is on any other failure.

What is held in memory is bounded too: at most MAX_FIELDS text fields beside the file, of
MAX_FIELD_BYTES each and MAX_FIELDS_BYTES together (python-multipart bounds each part's
headers). Text that the databases cannot store (NUL) in a field or the file's name is a
422 naming the field (jobdeck/api/text.py)."""

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

MAX_FIELD_BYTES = 1024  # the text fields (name, format) are short
MAX_FIELDS = 20  # text fields beside the file: the API reads two
MAX_FIELDS_BYTES = 8 * 1024  # all text fields together
FILE_FIELD = "file"
FILENAME_FIELD = "filename"  # how a 422 names the file's name


def too_large(max_bytes: int) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"the file is larger than the upload limit of {max_bytes:,} bytes "
        "(JOBDECK_DATASET_MAX_UPLOAD_BYTES)",
    )


def _bad(message: str) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, message)


def _too_much(message: str) -> HTTPException:
    return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, message)


@dataclass
class Upload:
    path: Path  # the scratch file; the caller puts it in storage or discards it
    filename: str
    size: int
    sha256: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)


class _Receiver:
    """python-multipart callbacks: file data is queued (and written off the event loop by
    `receive_upload`), text fields are collected."""

    def __init__(self, max_bytes: int, room: StorageRoom | None = None) -> None:
        self.max_bytes = max_bytes
        self.room = room
        self.part = _Part()
        self.header_name = b""
        self.header_value = b""
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.pending: list[bytes] = []
        self.size = 0
        self.parts = 0
        self.field_bytes = 0  # of all text fields

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_FIELDS + 1:
            raise _too_much(
                f"too many form fields: send the {FILE_FIELD!r} field and at most "
                f"{MAX_FIELDS} others (name, format)"
            )
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers[self.header_name.lower()] = self.header_value
        self.header_name, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.part.headers.get(b"content-disposition", b""))
        self.part.name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in options:
            if self.part.name != FILE_FIELD or self.filename is not None:
                raise _bad(f"send exactly one file, in the form field {FILE_FIELD!r}")
            self.part.filename = options[b"filename"].decode("utf-8", "replace")
            self.filename = self.part.filename

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part.filename is None:
            self.part.data += data[start:end]
            self.field_bytes += end - start
            if len(self.part.data) > MAX_FIELD_BYTES:
                raise _bad(f"form field {self.part.name!r} is longer than {MAX_FIELD_BYTES}")
            if self.field_bytes > MAX_FIELDS_BYTES:
                raise _too_much(
                    f"the form fields beside the file are longer than {MAX_FIELDS_BYTES:,} "
                    "bytes together"
                )
            return
        self.size += end - start
        if self.size > self.max_bytes:
            raise too_large(self.max_bytes)
        if self.room is not None and self.size > self.room.left:
            raise self.room.refuse(self.size)
        self.pending.append(data[start:end])

    def on_part_end(self) -> None:
        if self.part.filename is None:
            self.fields[self.part.name] = self.part.data.decode("utf-8", "replace")


def _write(handle: IO[bytes], chunks: list[bytes], digest: hashlib._Hash) -> None:
    for chunk in chunks:
        digest.update(chunk)
        handle.write(chunk)


async def receive_upload(
    request: Request, storage: DatasetStorage, max_bytes: int, room: StorageRoom | None = None
) -> Upload:
    """The upload in a scratch file; past `max_bytes`, or the `room` left in the
    organization's storage quota, a 413 and nothing kept."""
    content_type = request.headers.get("content-type", "")
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data" or b"boundary" not in params:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"upload the file as multipart/form-data with a {FILE_FIELD!r} field",
        )
    declared = request.headers.get("content-length", "")
    # The body also holds the multipart framing: allow it a little room.
    if declared.isdigit() and int(declared) > max_bytes + 64 * 1024:
        raise too_large(max_bytes)
    if room is not None and declared.isdigit() and int(declared) > room.left + 64 * 1024:
        raise room.refuse(int(declared))
    receiver = _Receiver(max_bytes, room)
    parser = MultipartParser(params[b"boundary"], _callbacks(receiver))
    scratch = storage.scratch()
    digest = hashlib.sha256()
    handle = await asyncio.to_thread(scratch.open, "wb")
    try:
        try:
            async for chunk in request.stream():
                parser.write(chunk)
                if receiver.pending:
                    chunks, receiver.pending = receiver.pending, []
                    await asyncio.to_thread(_write, handle, chunks, digest)
            parser.finalize()
        except FormParserError as err:
            raise _bad(f"the multipart body is malformed: {err}") from None
        if receiver.filename is None:
            raise _bad(f"no file in the upload: send it in the form field {FILE_FIELD!r}")
        _check_storable(receiver.filename, receiver.fields)
        await asyncio.to_thread(handle.close)
    except BaseException:
        # Any failure, a 413 or a client gone mid-upload, leaves nothing behind.
        await asyncio.to_thread(handle.close)
        await asyncio.to_thread(discard, scratch)
        raise
    return Upload(
        path=scratch,
        filename=receiver.filename,
        size=receiver.size,
        sha256=digest.hexdigest(),
        fields=receiver.fields,
    )


def _check_storable(filename: str, fields: dict[str, str]) -> None:
    errors = []
    for name, value in [(FILENAME_FIELD, filename), *fields.items()]:
        problem = find_unstorable(value)
        if problem is not None:
            errors.append(validation_error(name, problem))
    if errors:
        raise RequestValidationError(errors)


def _callbacks(receiver: _Receiver) -> MultipartCallbacks:
    return {
        "on_part_begin": receiver.on_part_begin,
        "on_part_data": receiver.on_part_data,
        "on_part_end": receiver.on_part_end,
        "on_header_field": receiver.on_header_field,
        "on_header_value": receiver.on_header_value,
        "on_header_end": receiver.on_header_end,
        "on_headers_finished": receiver.on_headers_finished,
    }
