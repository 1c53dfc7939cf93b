"""Text encodings: a file in a single-byte code page is read with the encoding the user
names; where its bytes fit several code pages, the job fails naming the candidates with a
line read each way, and never writes a guess's mojibake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobdeck.activities.conversion.errors import DataError
from jobdeck.activities.conversion.sniff import choose_encoding, read_sample
from tests.conftest import Tenant
from tests.datasets.conftest import convert, csv_bytes, dataset_ids, download, upload

# 4,001 ASCII lines (the header and 4,000 rows: more than the 64 KiB detection sample),
# then the first accented byte on line 4,002.
ROWS = [["q", "a"], *([f"question {i}?", f"answer {i}."] for i in range(4000))]
ACCENTED = [["à la carte", "Señor Åsa"], ["menu", "à la carte for Señor Åsa"]]
LATE_CP1252 = csv_bytes([*ROWS, *ACCENTED], encoding="cp1252")


def _records(content: bytes) -> list[dict[str, str]]:
    return [json.loads(line) for line in content.decode().splitlines()]


def _assert_names_the_candidates(message: str, line: int) -> None:
    assert f"line {line}" in message, message
    assert "encoding" in message, message
    # cp1252 is named, with the line read right; cp1250's reading is shown beside it.
    assert "'cp1252'" in message and "'à la carte,Señor Åsa'" in message, message
    assert "'cp1250'" in message and "'ŕ la carte,Seńor Ĺsa'" in message, message
    assert "looks like" not in message, message  # no single guess presented as the answer


@pytest.mark.parametrize("given", [None, "utf-8"], ids=["detected", "utf-8-given"])
async def test_an_ambiguous_code_page_fails_naming_the_candidates(
    tenant: Tenant, given: str | None
) -> None:
    source = await upload(tenant.api, "menu.csv", LATE_CP1252)
    data = {"encoding": given} if given else {}

    job = await convert(tenant.api, source["id"], outputFormat="jsonl", **data)

    assert job["status"] == "failed", job
    assert job["error"]["type"] == "InvalidData"
    assert job["attempts"] == 1  # not retried
    message = job["error"]["message"]
    assert message.startswith("line 4002 is not valid utf-8 (byte 0xe0)"), message
    _assert_names_the_candidates(message, 4002)
    assert await dataset_ids(tenant.api) == [source["id"]]  # nothing written


async def test_the_named_code_page_converts_the_text_right(tenant: Tenant) -> None:
    source = await upload(tenant.api, "menu.csv", LATE_CP1252)

    job = await convert(tenant.api, source["id"], outputFormat="jsonl", encoding="cp1252")

    assert job["status"] == "completed", job
    read = (await tenant.api.get(f"/api/datasets/{source['id']}")).json()
    assert read["details"]["encoding"] == "cp1252"
    records = _records(await download(tenant.api, job["result"]["datasetId"]))
    assert len(records) == 4002
    assert records[-2:] == [
        {"q": "à la carte", "a": "Señor Åsa"},
        {"q": "menu", "a": "à la carte for Señor Åsa"},
    ]


async def test_detection_refuses_an_ambiguous_sample_rather_than_guess(tenant: Tenant) -> None:
    # The accents are in the detection sample: no UTF-8 attempt fails, detection alone
    # would decide, and it must not pick one code page and write mojibake.
    content = csv_bytes([["q", "a"], *ACCENTED], encoding="cp1252")
    source = await upload(tenant.api, "short.csv", content)

    job = await convert(tenant.api, source["id"], outputFormat="jsonl")

    assert job["status"] == "failed", job
    assert job["error"]["type"] == "InvalidData"
    assert job["attempts"] == 1
    message = job["error"]["message"]
    assert message.startswith("dataset 'short.csv' is not UTF-8"), message
    _assert_names_the_candidates(message, 2)


# Without the stack: what detection decides for files it can and cannot tell apart.


def _choose(tmp_path: Path, content: bytes, given: str | None = None) -> str:
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    return choose_encoding(path, read_sample(path), "data.csv", given)


def test_utf8_and_a_named_encoding_are_taken_as_they_are(tmp_path: Path) -> None:
    assert _choose(tmp_path, "q\nSeñor\n".encode()) == "utf-8"
    # Named: taken even where the bytes fit others (the user chose).
    assert _choose(tmp_path, "q\nSeñor\n".encode("cp1252"), "cp1250") == "cp1250"


def test_bytes_every_likely_code_page_reads_alike_are_detected(tmp_path: Path) -> None:
    # ä ö ü ß are the same bytes in cp1252, cp1250, cp1257...; elsewhere they read as
    # Cyrillic or Greek letters inside Latin words, or as symbols: not text.
    content = csv_bytes([["wort"], ["Größe"], ["Übermäßig schöne Grüße"]], encoding="cp1252")
    assert _choose(tmp_path, content) == "cp1252"


def test_polish_cp1250_is_detected(tmp_path: Path) -> None:
    text = [["q"], ["Zażółć gęślą jaźń"], ["Źródło: Łódź, Świętokrzyskie"]]
    assert _choose(tmp_path, csv_bytes(text, encoding="cp1250")) == "cp1250"


def test_french_cp1252_is_ambiguous_with_cp1250(tmp_path: Path) -> None:
    content = csv_bytes([["q"], ["crème brûlée"]], encoding="cp1252")
    with pytest.raises(DataError) as caught:
        _choose(tmp_path, content)
    message = caught.value.message
    assert "'cp1252' reads it as 'crème brûlée'" in message, message
    assert "'crčme brűlée'" in message, message
    assert caught.value.details["candidates"][:2] == ["cp1252", "cp1250"]
