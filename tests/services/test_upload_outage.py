"""A database outage in the middle of an upload: the file arrived, its row cannot be
written. The upload is answered 503 with Retry-After, no file stays behind (neither the
stored object nor the scratch copy), and once the database is back the same upload works.
The outage is the operators' kind (see test_database_outage.py): connections refused and
sessions cut, here for the moment the upload's last bytes take."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from jobdeck.admin import create_account
from jobdeck.store.accounts import Role
from jobdeck.store.engine import Database
from jobdeck.store.migrate import upgrade_async
from tests.conftest import Stack, drop_postgres_database, fresh_postgres_database, open_stack
from tests.services.test_database_outage import outage

pytestmark = [pytest.mark.postgres]

BOUNDARY = "jobdeck-outage-boundary"


@pytest.fixture
async def own_stack(stack: Stack, tmp_path: Path) -> AsyncIterator[Stack]:
    if not stack.db.url.startswith("postgresql"):
        pytest.skip("the outage is PostgreSQL's (SQLite has no server to lose)")
    url, name = await fresh_postgres_database()
    await upgrade_async(url)
    db = Database.connect(url)
    try:
        async with open_stack(
            stack, db=db, database_url=url, workers=False, data_dir=tmp_path / "data"
        ) as own:
            own.db_name = name  # type: ignore[attr-defined]
            yield own
    finally:
        await db.dispose()
        await drop_postgres_database(name)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def _body(
    filename: str, content: bytes, midway: Callable[[], Awaitable[None]]
) -> AsyncIterator[bytes]:
    """A multipart body with one file, calling `midway` when half the file has gone."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    half = len(content) // 2
    yield content[:half]
    await midway()
    yield content[half:]
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


@pytest.mark.parametrize("target", ["dataset", "document"])
async def test_an_upload_cut_off_by_an_outage_keeps_nothing(own_stack: Stack, target: str) -> None:
    account = await create_account(
        own_stack.db,
        organization=f"org-{uuid.uuid4().hex[:8]}",
        email=f"u-{uuid.uuid4().hex[:8]}@example.com",
        name="Outage",
        role=Role.ADMIN,
    )
    storage = own_stack.settings.data_dir
    async with own_stack.client(account.key) as api:
        if target == "dataset":
            path, name = "/api/datasets", "rows.csv"
            content = b"q,a\n" + b"what is one plus one?,two\n" * 20_000
            listing = "/api/datasets"
        else:
            created = await api.post("/api/collections", json={"name": "outage"})
            assert created.status_code == 201, created.text
            cid = created.json()["id"]
            path, name = f"/api/collections/{cid}/documents", "notes.txt"
            content = b"The Danube flows through ten countries.\n" * 20_000
            listing = f"/api/collections/{cid}/documents"
        before = _files(storage)
        down = outage(own_stack.db_name)  # type: ignore[attr-defined]
        headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        try:
            cut = await api.post(
                path, content=_body(name, content, down.__aenter__), headers=headers
            )
        finally:
            await down.__aexit__(None, None, None)
        assert cut.status_code == 503, cut.text
        assert cut.json()["detail"] == "the database is unreachable right now; try again shortly"
        assert cut.headers["retry-after"] == "5"
        assert _files(storage) == before  # no stored object, no scratch copy

        # Back: nothing was recorded, and the same upload goes through.
        assert (await api.get(listing)).json()["data"] == []

        async def nothing() -> None:
            return None

        again = await api.post(path, content=_body(name, content, nothing), headers=headers)
        assert again.status_code == 201, again.text
        assert len((await api.get(listing)).json()["data"]) == 1
