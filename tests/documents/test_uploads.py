"""Many documents in one upload: several files in one multipart request, and .zip archives
(built here with zipfile) whose members become documents. Each hard limit and each bad
archive gets its 413 or 422 with a message, and nothing is half-stored: no document row,
no stored file, no scratch file left."""

from __future__ import annotations

import io
import stat
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from jobdeck.dataset_files import LocalStorage
from tests.conftest import Stack, Tenant, new_tenant, open_stack


def make_zip(members: dict[str, bytes], **infos: zipfile.ZipInfo) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
        for info in infos.values():
            flags = info.flag_bits
            zf.writestr(info, b"link target or secret")
            info.flag_bits |= flags  # writestr resets them; the central directory keeps these
    return buffer.getvalue()


def _storage(stack: Stack) -> LocalStorage:
    storage = stack.runtime.files
    assert isinstance(storage, LocalStorage)
    return storage


def _files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


async def _collection(tenant: Tenant) -> str:
    response = await tenant.api.post("/api/collections", json={"name": "uploads"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _upload(tenant: Tenant, cid: str, *files: tuple[str, bytes]) -> Any:
    return await tenant.api.post(
        f"/api/collections/{cid}/uploads", files=[("file", f) for f in files]
    )


async def _names(tenant: Tenant, cid: str) -> list[str]:
    response = await tenant.api.get(f"/api/collections/{cid}/documents")
    assert response.status_code == 200, response.text
    return sorted(d["filename"] for d in response.json()["data"])


async def test_many_files_in_one_request(tenant: Tenant) -> None:
    cid = await _collection(tenant)
    big = b"A line of plain text about rivers and lakes.\n" * 50_000  # 2.2 MB, past 1 MiB
    response = await _upload(
        tenant,
        cid,
        ("notes.txt", b"some notes"),
        ("guide.md", b"# Guide\n\nRead me."),
        ("page.html", b"<html><body><p>Hello</p></body></html>"),
        ("big.txt", big),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert [(d["filename"], d["format"]) for d in body["data"]] == [
        ("notes.txt", "txt"),
        ("guide.md", "md"),
        ("page.html", "html"),
        ("big.txt", "txt"),
    ]
    assert body["data"][3]["sizeBytes"] == len(big) and body["skipped"] == []
    assert await _names(tenant, cid) == ["big.txt", "guide.md", "notes.txt", "page.html"]

    # Sent again with new content, a name replaces its document (pending again).
    again = await _upload(tenant, cid, ("notes.txt", b"new notes"))
    assert again.status_code == 201, again.text
    assert again.json()["data"][0]["id"] == body["data"][0]["id"]
    assert len(await _names(tenant, cid)) == 4


async def test_a_zip_becomes_documents_flattened_and_skips_what_is_not_one(
    stack: Stack, tenant: Tenant
) -> None:
    cid = await _collection(tenant)
    archive = make_zip(
        {
            "reports/2024/q1.txt": b"first quarter",
            "reports/2024/": b"",  # a folder entry: ignored
            "readme.md": b"# Read me\n\ntext",
            "inner/more.zip": make_zip({"x.txt": b"x"}),
            "__MACOSX/._readme.md": b"\x00\x05\x16\x07",
            "photos/cat.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
            "blank.txt": b"",
        }
    )
    objects = _storage(stack).objects
    before = _files_under(objects)
    response = await _upload(tenant, cid, ("bundle.zip", archive), ("loose.txt", b"loose"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert sorted(d["filename"] for d in body["data"]) == [
        "loose.txt",
        "readme.md",
        "reports_2024_q1.txt",
    ]
    skipped = {s["name"]: s["reason"] for s in body["skipped"]}
    assert set(skipped) == {"inner/more.zip", "__MACOSX/._readme.md", "photos/cat.png", "blank.txt"}
    assert "archive inside the archive" in skipped["inner/more.zip"]
    assert "operating-system" in skipped["__MACOSX/._readme.md"]
    assert "empty" in skipped["blank.txt"]
    assert await _names(tenant, cid) == ["loose.txt", "readme.md", "reports_2024_q1.txt"]
    assert len(_files_under(objects) - before) == 3  # the archive itself is not kept


def _symlink() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("docs/link.txt")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _encrypted() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("secret.txt")
    info.flag_bits |= 0x1
    return info


BOMB = make_zip({"ok.txt": b"fine", "zeros.txt": b"\x00" * (40 * 1024**2)})  # ~1000:1

BAD_UPLOADS: list[tuple[str, list[tuple[str, bytes]], int, str]] = [
    ("bomb", [("bomb.zip", BOMB)], 413, "zip bomb"),
    ("traversal", [("t.zip", make_zip({"ok.txt": b"ok", "../../evil.txt": b"x"}))], 422, "'..'"),
    ("absolute", [("a.zip", make_zip({"/etc/cron.d/x.txt": b"x"}))], 422, "unsafe path"),
    ("drive", [("d.zip", make_zip({"C:\\x.txt": b"x"}))], 422, "unsafe path"),
    ("symlink", [("s.zip", make_zip({"a.txt": b"a"}, link=_symlink()))], 422, "symbolic link"),
    ("encrypted", [("e.zip", make_zip({"a.txt": b"a"}, enc=_encrypted()))], 422, "encrypted"),
    ("not a zip", [("fake.zip", b"PK\x03\x04 but not really")], 422, "not a readable .zip"),
    (
        "disguised member",
        [("m.zip", make_zip({"a.txt": b"a", "report.pdf": b"<html><body>x</body></html>"}))],
        422,
        "report.pdf",
    ),
    (
        "same flattened name",
        [("n.zip", make_zip({"a/b.txt": b"1"})), ("a_b.txt", b"2")],
        422,
        "two files in the upload are named 'a_b.txt'",
    ),
    ("unknown single file", [("x.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)], 415, "x.png"),
]


@pytest.mark.parametrize(
    ("files", "code", "message"),
    [case[1:] for case in BAD_UPLOADS],
    ids=[case[0] for case in BAD_UPLOADS],
)
async def test_bad_archives_are_refused_whole(
    stack: Stack, tenant: Tenant, files: list[tuple[str, bytes]], code: int, message: str
) -> None:
    cid = await _collection(tenant)
    storage = _storage(stack)
    objects, scratch = _files_under(storage.objects), _files_under(storage.scratch_dir)
    response = await _upload(tenant, cid, ("first.txt", b"stored only with the rest"), *files)
    assert response.status_code == code, response.text
    assert message in response.json()["detail"], response.text
    assert await _names(tenant, cid) == []
    assert _files_under(storage.objects) == objects
    assert _files_under(storage.scratch_dir) <= scratch


async def test_bad_requests(tenant: Tenant) -> None:
    cid = await _collection(tenant)
    field = await tenant.api.post(
        f"/api/collections/{cid}/uploads", data={"name": "x"}, files={"file": ("a.txt", b"a")}
    )
    assert field.status_code == 400 and "send only files" in field.json()["detail"]
    none = await tenant.api.post(
        f"/api/collections/{cid}/uploads",
        content=b"--b--\r\n",
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert none.status_code == 400 and "no file" in none.json()["detail"]
    litter = await _upload(tenant, cid, ("l.zip", make_zip({".DS_Store": b"x"})))
    assert litter.status_code == 422 and "no document" in litter.json()["detail"]
    assert ".DS_Store: operating-system metadata" in litter.json()["detail"]
    raw = await tenant.api.post(f"/api/collections/{cid}/uploads", content=b"x")
    assert raw.status_code == 415
    missing = await _upload(tenant, "no-such-collection", ("a.txt", b"a"))
    assert missing.status_code == 404
    assert await _names(tenant, cid) == []


@pytest.fixture
async def small_stack(stack: Stack) -> AsyncIterator[Stack]:
    async with open_stack(
        stack,
        workers=False,
        document_upload_max_files=4,
        document_archive_max_bytes=3000,
        document_archive_member_max_bytes=2000,
        dataset_max_upload_bytes=200_000,
    ) as small:
        yield small


async def test_limits_and_other_organizations(small_stack: Stack) -> None:
    owner, other = await new_tenant(small_stack), await new_tenant(small_stack)
    async with small_stack.client(owner.key) as api, small_stack.client(other.key) as stranger:
        tenant = Tenant(owner, api)
        cid = await _collection(tenant)
        text = b"words " * 300  # 1800 bytes
        cases: list[tuple[list[tuple[str, bytes]], str]] = [
            ([(f"{n}.txt", b"x") for n in range(5)], "more than 4 files in one upload"),
            ([("a.txt", b"a"), ("z.zip", make_zip({f"{n}.txt": b"x" for n in range(4)}))],
             "may add at most 3 more"),
            ([("z.zip", make_zip({"a.txt": text, "b.txt": text}))], "DOCUMENT_ARCHIVE_MAX_BYTES"),
            ([("z.zip", make_zip({"a.txt": text + text}))], "DOCUMENT_ARCHIVE_MEMBER_MAX_BYTES"),
            ([("big.txt", b"y" * 200_001)], "upload limit of 200,000 bytes"),
        ]  # fmt: skip
        for files, message in cases:
            response = await _upload(tenant, cid, *files)
            assert response.status_code == 413, (message, response.text)
            assert message in response.json()["detail"], response.text
        assert await _names(tenant, cid) == []
        ok = await _upload(tenant, cid, ("z.zip", make_zip({"a.txt": text})), ("b.txt", b"b"))
        assert ok.status_code == 201, ok.text

        theirs = await stranger.post(
            f"/api/collections/{cid}/uploads", files={"file": ("a.txt", b"a")}
        )
        assert theirs.status_code == 404
