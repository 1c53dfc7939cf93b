"""Each bad input fails its conversion with a message a person can act on, leaves no
partial output, and the worker goes on serving: a good job right after completes."""

from __future__ import annotations

import json
import random
from typing import Any

import pyarrow as pa
import pytest

from tests.conftest import Stack, Tenant, new_tenant
from tests.datasets.conftest import (
    convert,
    csv_bytes,
    dataset_ids,
    parquet_bytes,
    qa_csv,
    scratch_files,
    upload,
    xlsx_bytes,
)
from tests.workflows.test_replay import record_history

ROW_LIMIT = 64 * 1024  # set for these tests, so an "enormous" line stays small
CHAT = {"outputFormat": "openai-chat", "mapping": {"user": "q", "assistant": "a"}}


def _junk() -> bytes:
    return random.Random(4).randbytes(5000)


def _bad_json_line() -> bytes:
    good = [json.dumps({"q": f"q{i}", "a": f"a{i}"}) for i in range(5)]
    good[2] = '{"q": "q2", "a": }'
    return ("\n".join(good) + "\n").encode()


CASES: list[tuple[str, str, bytes, dict[str, Any], str, str]] = [
    (
        "unbalanced-quotes",
        "quotes.csv",
        b'q,a\nfine,row\n"never closed,oops\nnext,row\n',
        {"outputFormat": "jsonl"},
        "InvalidData",
        "malformed CSV in the record that starts on line 3: a quoted field is never closed",
    ),
    (
        "invalid-json-line",
        "lines.jsonl",
        _bad_json_line(),
        {"outputFormat": "jsonl"},
        "InvalidData",
        "line 3 is not valid JSON: Expecting value (column 18)",
    ),
    (
        "wrong-encoding",
        "latin.csv",
        csv_bytes([["q", "a"], ["plain", "ascii"], ["café", "crème brûlée"]], encoding="cp1252"),
        {"outputFormat": "jsonl", "encoding": "utf-8"},
        "InvalidData",
        "line 3 is not valid utf-8 (byte 0xe9)",
    ),
    (
        "empty-file",
        "empty.csv",
        b"",
        {"outputFormat": "jsonl"},
        "InvalidData",
        "is empty (0 bytes)",
    ),
    (
        "binary-junk",
        "junk.csv",
        _junk(),
        {"outputFormat": "jsonl"},
        "InvalidData",
        "does not look like a text file",
    ),
    (
        "enormous-jsonl-line",
        "huge.jsonl",
        json.dumps({"q": "x" * (5 * ROW_LIMIT), "a": "y"}).encode(),
        {"outputFormat": "jsonl"},
        "InvalidData",
        "line 1 is longer than the limit of 64 KiB for one row",
    ),
    (
        "enormous-csv-line",
        "huge.csv",
        b"q,a\nhello," + b"x" * (5 * ROW_LIMIT) + b"\n",
        {"outputFormat": "jsonl"},
        "InvalidData",
        "line 2 is longer than the limit of 64 KiB for one row",
    ),
    (
        "parquet-unsupported-type",
        "blobs.parquet",
        parquet_bytes(pa.table({"q": ["a", "b"], "blob": pa.array([b"\x00\x01", b"\x02"])})),
        {"outputFormat": "jsonl"},
        "UnsupportedType",
        "column 'blob' of dataset 'blobs.parquet' has type binary, which cannot be converted",
    ),
    (
        "xlsx-no-rows",
        "empty.xlsx",
        xlsx_bytes([]),
        CHAT,
        "InvalidData",
        "sheet 'Sheet' of dataset 'empty.xlsx' has no rows",
    ),
    (
        "mapping-missing-column",
        "qa.csv",
        qa_csv(),
        {"outputFormat": "openai-chat", "mapping": {"user": "question", "assistant": "a"}},
        "MappingError",
        "the mapping names column 'question', which dataset 'qa.csv' does not have; its "
        "columns are: 'q', 'a'",
    ),
]


@pytest.mark.parametrize(
    ("filename", "content", "data", "error_type", "message"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_bad_input_fails_readably_and_leaves_nothing(
    stack: Stack,
    tenant: Tenant,
    monkeypatch: pytest.MonkeyPatch,
    filename: str,
    content: bytes,
    data: dict[str, Any],
    error_type: str,
    message: str,
) -> None:
    monkeypatch.setattr(stack.settings, "dataset_max_row_bytes", ROW_LIMIT)
    source = await upload(tenant.api, filename, content)

    job = await convert(tenant.api, source["id"], **data)

    assert job["status"] == "failed", job
    assert job["error"]["type"] == error_type
    assert message in job["error"]["message"], job["error"]["message"]
    assert job["attempts"] == 1  # bad data is not retried
    assert await dataset_ids(tenant.api) == [source["id"]]  # no output registered
    assert scratch_files(stack) == []  # and no partial file left
    if error_type == "MappingError":
        await record_history(stack, job["id"], "data-conversion-failed")
    # The worker goes on serving.
    good = await upload(tenant.api, "good.csv", qa_csv())
    assert (await convert(tenant.api, good["id"], **CHAT))["status"] == "completed"


async def test_a_dataset_of_another_organization_cannot_be_converted(
    stack: Stack, tenant: Tenant
) -> None:
    other = await new_tenant(stack)
    async with stack.client(other.key) as api:
        theirs = await upload(api, "theirs.csv", qa_csv())
    job = await convert(tenant.api, theirs["id"], outputFormat="jsonl")
    assert job["status"] == "failed"
    assert job["error"]["type"] == "DatasetNotFound"
    assert f"dataset {theirs['id']} not found in your organization" in job["error"]["message"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"outputFormat": "openai-chat"}, "outputFormat openai-chat needs a mapping"),
        ({"outputFormat": "xml"}, "data.outputFormat: Input should be 'jsonl', 'csv'"),
        ({"outputFormat": "jsonl", "encoding": "klingon"}, "unknown text encoding 'klingon'"),
        (
            {"outputFormat": "openai-chat", "mapping": {"user": "q"}},
            "give exactly one of: user and assistant columns",
        ),
        ({"outputFormat": "jsonl", "model": "gpt-99"}, "unknown fine-tuning model 'gpt-99'"),
    ],
)
async def test_invalid_conversion_input_is_refused_at_once(
    tenant: Tenant, data: dict[str, Any], message: str
) -> None:
    response = await tenant.api.post(
        "/api/jobs",
        json={"type": "data-conversion", "name": "x", "data": {"datasetId": "d", **data}},
    )
    assert response.status_code == 422
    assert message in response.json()["detail"]
