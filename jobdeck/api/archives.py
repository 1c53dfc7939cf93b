"""The members of an uploaded .zip as documents, within hard limits.

The archive is read from its scratch file on disk (zipfile reads the central directory,
then one member at a time), and each member is copied to its own scratch file in 1 MiB
pieces: no archive or member is ever held in memory. Everything the central directory
says is checked before a byte is extracted, and sizes are counted again while copying,
since a directory can lie (zipfile also stops at the declared size and checks the CRC).

Refused, the whole upload with it (ArchiveError; `too_large` ones answer 413, the others
422): more members than allowed; a member or the archives together larger than allowed
once expanded; a member that expands more than `max_ratio` times (a zip bomb; members
under RATIO_GRACE_BYTES are exempt, as tiny repetitive files compress well); a path with
`..`, an absolute path or a drive; a symbolic link; an encrypted member; a damaged one.

Skipped, with the reason reported (the rest is stored): archives inside the archive
(they are not opened: an expansion is bounded by one level; upload them on their own),
operating-system litter (__MACOSX/, .DS_Store, Thumbs.db) and folders. Nested folders are
flattened into the name: `reports/2024/q1.pdf` becomes `reports_2024_q1.pdf`.
"""

from __future__ import annotations

import hashlib
import re
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from jobdeck.api.filenames import safe_name
from jobdeck.dataset_files import discard

RATIO_GRACE_BYTES = 1024 * 1024
COPY_BYTES = 1024 * 1024
NESTED_ARCHIVES = (
    ".zip", ".tar", ".tgz", ".gz", ".bz2", ".tbz2", ".xz", ".txz", ".7z", ".rar", ".zst",
)  # fmt: skip
LITTER_NAMES = {".ds_store", "thumbs.db", "desktop.ini"}


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int  # files this archive may hold (what the upload has left to add)
    max_total_bytes: int  # what this archive may expand to (what the upload has left)
    max_member_bytes: int
    max_ratio: float


class ArchiveError(Exception):
    """An archive refused whole; `reason` is meant for the person who sent it."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large


@dataclass
class Member:
    name: str  # flattened, safe
    path: Path  # its scratch file; the caller stores or discards it
    size: int
    sha256: str
    source: str  # its path in the archive


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


def is_archive(filename: str) -> bool:
    return filename.lower().endswith(".zip")


def _parts(raw: str) -> list[str]:
    return [p for p in re.split(r"[/\\]", raw) if p not in ("", ".")]


def flat_name(raw: str) -> str:
    """`a/b/c.pdf` -> `a_b_c.pdf`, each part cleaned as `safe_name` cleans a file name."""
    return "_".join(p for p in (safe_name(part) for part in _parts(raw)) if p)


def _unsafe_path(raw: str) -> bool:
    return (
        raw.startswith(("/", "\\"))
        or re.match(r"^[A-Za-z]:", raw) is not None
        or ".." in re.split(r"[/\\]", raw)
    )


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _check(
    archive: str, infos: list[zipfile.ZipInfo], limits: ArchiveLimits
) -> tuple[list[zipfile.ZipInfo], list[Skipped]]:
    """What the central directory says, checked before anything is extracted."""
    files = [i for i in infos if not i.is_dir()]
    if len(files) > limits.max_members:
        raise ArchiveError(
            f"{archive!r} holds {len(files):,} files; an upload may add at most "
            f"{limits.max_members:,} more (JOBDECK_DOCUMENT_UPLOAD_MAX_FILES)",
            too_large=True,
        )
    wanted: list[zipfile.ZipInfo] = []
    skipped: list[Skipped] = []
    total = 0
    for info in files:
        where = f"{archive!r} member {info.filename!r}"
        if _unsafe_path(info.filename):
            raise ArchiveError(f"{where} has an unsafe path (absolute, a drive, or '..')")
        if _is_symlink(info):
            raise ArchiveError(f"{where} is a symbolic link; links are refused")
        if info.flag_bits & 0x1:
            raise ArchiveError(f"{where} is encrypted; upload it unencrypted")
        parts = _parts(info.filename)
        base = parts[-1].lower() if parts else ""
        if parts and (parts[0] == "__MACOSX" or base in LITTER_NAMES or base.startswith("._")):
            skipped.append(Skipped(info.filename, "operating-system metadata, not a document"))
            continue
        if base.endswith(NESTED_ARCHIVES):
            skipped.append(
                Skipped(
                    info.filename,
                    "an archive inside the archive is not opened; upload it on its own",
                )
            )
            continue
        _check_sizes(where, info.file_size, info.compress_size, limits)
        total += info.file_size
        if total > limits.max_total_bytes:
            raise _total_too_large(archive, limits)
        wanted.append(info)
    return wanted, skipped


def _check_sizes(where: str, size: int, packed: int, limits: ArchiveLimits) -> None:
    if size > limits.max_member_bytes:
        raise ArchiveError(
            f"{where} expands to more than {limits.max_member_bytes:,} bytes, the largest "
            "member accepted (JOBDECK_DOCUMENT_ARCHIVE_MEMBER_MAX_BYTES)",
            too_large=True,
        )
    if size > RATIO_GRACE_BYTES and size > limits.max_ratio * max(packed, 1):
        raise ArchiveError(
            f"{where} expands {size / max(packed, 1):,.0f} times (a zip bomb?); the most "
            f"accepted is {limits.max_ratio:g} (JOBDECK_DOCUMENT_ARCHIVE_MAX_RATIO)",
            too_large=True,
        )


def _total_too_large(archive: str, limits: ArchiveLimits) -> ArchiveError:
    return ArchiveError(
        f"{archive!r} expands to more than {limits.max_total_bytes:,} bytes, what the "
        "upload's archives may expand to together (JOBDECK_DOCUMENT_ARCHIVE_MAX_BYTES)",
        too_large=True,
    )


def _copy(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, limits: ArchiveLimits, where: str
) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with zf.open(info) as source, target.open("wb") as out:
        while piece := source.read(COPY_BYTES):
            size += len(piece)
            # Counted again: the directory's sizes are the sender's word.
            _check_sizes(where, size, info.compress_size, limits)
            digest.update(piece)
            out.write(piece)
    return size, digest.hexdigest()


def expand(
    path: Path, archive: str, limits: ArchiveLimits, scratch: Callable[[], Path]
) -> tuple[list[Member], list[Skipped]]:
    """The archive's documents, each in a scratch file, and what was skipped and why.
    Synchronous (run it in a thread). Raises ArchiveError, leaving no scratch file."""
    members: list[Member] = []
    try:
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as err:
            raise ArchiveError(f"{archive!r} is not a readable .zip archive: {err}") from None
        with zf:
            wanted, skipped = _check(archive, zf.infolist(), limits)
            total = 0
            for info in wanted:
                where = f"{archive!r} member {info.filename!r}"
                name = flat_name(info.filename)
                if not name or len(name) > 255:
                    raise ArchiveError(f"{where}: its name must be 1 to 255 characters")
                target = scratch()
                members.append(Member(name, target, 0, "", info.filename))
                try:
                    size, sha256 = _copy(zf, info, target, limits, where)
                except (
                    zipfile.BadZipFile,
                    EOFError,
                    NotImplementedError,
                    OSError,
                    RuntimeError,
                ) as err:
                    raise ArchiveError(f"{where} cannot be read: {err}") from None
                total += size
                if total > limits.max_total_bytes:
                    raise _total_too_large(archive, limits)
                members[-1].size, members[-1].sha256 = size, sha256
    except BaseException:
        for member in members:
            discard(member.path)
        raise
    return members, skipped
