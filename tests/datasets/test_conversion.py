"""data-conversion: every input format to every output format, chat mappings, lineage,
progress, and a cancel mid-file that leaves no partial output."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobdeck.activities.conversion import jsonreaders, writers
from tests.conftest import Stack, Tenant
from tests.datasets.conftest import (
    QA,
    convert,
    csv_bytes,
    dataset_ids,
    download,
    jsonl_bytes,
    parquet_bytes,
    qa_csv,
    scratch_files,
    upload,
    xlsx_bytes,
)
from tests.helpers import create_job, wait_for_job
from tests.workflows.test_replay import record_history

RECORDS = [{"q": q, "a": a} for q, a in QA]


def _lines(content: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in content.decode().splitlines()]


def _chat(q: str, a: str, system: str | None = None) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    return {"messages": messages}


SOURCES = {
    "csv": ("qa.csv", qa_csv()),
    "tsv": ("qa.tsv", csv_bytes([["q", "a"], *map(list, QA)], delimiter="\t")),
    "semicolon-cp1252": (
        "qa.csv",
        csv_bytes([["q", "a"], *map(list, QA)], delimiter=";", encoding="cp1252"),
    ),
    "json": ("qa.json", json.dumps(RECORDS).encode()),
    "jsonl": ("qa.jsonl", jsonl_bytes(RECORDS)),
    "parquet": ("qa.parquet", parquet_bytes(pa.Table.from_pylist(RECORDS))),
    "xlsx": ("qa.xlsx", xlsx_bytes([["q", "a"], *map(list, QA)])),
}


@pytest.mark.parametrize("source", list(SOURCES))
async def test_every_input_format_converts_to_chat_jsonl(tenant: Tenant, source: str) -> None:
    filename, content = SOURCES[source]
    dataset = await upload(tenant.api, filename, content)
    job = await convert(
        tenant.api,
        dataset["id"],
        outputFormat="openai-chat",
        mapping={"user": "q", "assistant": "a", "systemPrompt": "Be brief."},
    )
    assert job["status"] == "completed", job
    out = job["result"]
    assert (out["rows"], out["format"], out["outputFormat"]) == (12, "jsonl", "openai-chat")
    assert out["validation"]["valid"] is True
    assert _lines(await download(tenant.api, out["datasetId"])) == [
        _chat(q, a, "Be brief.") for q, a in QA
    ]
    assert job["progress"]["unit"] == "bytes"
    assert job["progress"]["current"] == job["progress"]["total"] == dataset["sizeBytes"]


async def test_csv_to_jsonl_csv_and_parquet_keep_every_column_as_text(tenant: Tenant) -> None:
    rows = [["id", "text"], ["007", 'say "hi"\nthen go'], ["8", ""]]
    dataset = await upload(tenant.api, "t.csv", csv_bytes(rows))
    results = {}
    for fmt in ("jsonl", "csv", "parquet"):
        job = await convert(tenant.api, dataset["id"], outputFormat=fmt)
        assert job["status"] == "completed", job
        results[fmt] = await download(tenant.api, job["result"]["datasetId"])
    expected = [{"id": "007", "text": 'say "hi"\nthen go'}, {"id": "8", "text": ""}]
    assert _lines(results["jsonl"]) == expected
    assert results["csv"].decode() == 'id,text\n007,"say ""hi""\nthen go"\n8,\n'
    assert pq.read_table(io.BytesIO(results["parquet"])).to_pylist() == expected


async def test_typed_sources_keep_their_types(tenant: Tenant) -> None:
    table = pa.table({"n": [1, 2], "x": [0.5, None], "ok": [True, False], "tags": [["a"], []]})
    dataset = await upload(tenant.api, "typed.parquet", parquet_bytes(table))
    job = await convert(tenant.api, dataset["id"], outputFormat="jsonl")
    assert _lines(await download(tenant.api, job["result"]["datasetId"])) == table.to_pylist()
    back = await convert(tenant.api, dataset["id"], outputFormat="parquet")
    out = pq.read_table(io.BytesIO(await download(tenant.api, back["result"]["datasetId"])))
    assert out.equals(table)


async def test_chat_mappings_prompt_completion_and_template(tenant: Tenant) -> None:
    rows = [{"topic": f"t{i}", "text": f"{{x{i}}}\t\x01", "label": f"l{i}"} for i in range(10)]
    dataset = await upload(tenant.api, "s.jsonl", jsonl_bytes(rows))
    plain = await convert(
        tenant.api,
        dataset["id"],
        outputFormat="openai-chat",
        mapping={"prompt": "text", "completion": "label"},
    )
    assert _lines(await download(tenant.api, plain["result"]["datasetId"]))[0] == _chat(
        "{x0}\t\x01", "l0"
    )
    templated = await convert(
        tenant.api,
        dataset["id"],
        outputFormat="openai-chat",
        mapping={
            "template": {
                "system": "You label {topic} texts. {{literal braces}}",
                "user": "Text: {text}",
                "assistant": "{label}",
            }
        },
        name="labelled.jsonl",
    )
    out = await download(tenant.api, templated["result"]["datasetId"])
    assert _lines(out)[3] == _chat(
        "Text: {x3}\t\x01", "l3", system="You label t3 texts. {literal braces}"
    )
    got = (await tenant.api.get(f"/api/datasets/{templated['result']['datasetId']}")).json()
    assert got["name"] == "labelled.jsonl"


async def test_output_dataset_has_lineage_and_the_source_gets_counted(
    stack: Stack, tenant: Tenant
) -> None:
    source = await upload(tenant.api, "qa.csv", qa_csv())
    assert source["rowCount"] is None  # not read yet
    job = await convert(
        tenant.api,
        source["id"],
        outputFormat="openai-chat",
        mapping={"user": "q", "assistant": "a"},
    )
    out = (await tenant.api.get(f"/api/datasets/{job['result']['datasetId']}")).json()
    assert out["sourceDatasetId"] == source["id"]
    assert out["jobId"] == job["id"]
    assert out["links"]["source"] == f"/api/datasets/{source['id']}"
    assert out["links"]["job"] == f"/api/jobs/{job['id']}"
    assert (out["name"], out["format"], out["rowCount"]) == ("qa.jsonl", "jsonl", 12)
    assert out["sizeBytes"] == job["result"]["sizeBytes"]
    assert out["sha256"] == job["result"]["sha256"]
    assert out["validation"]["examples"] == 12
    source = (await tenant.api.get(f"/api/datasets/{source['id']}")).json()
    assert source["rowCount"] == 12
    assert source["details"]["columns"] == ["q", "a"]
    assert source["details"]["delimiter"] == ","
    outputs = await tenant.api.get("/api/datasets", params={"sourceDatasetId": source["id"]})
    assert [d["id"] for d in outputs.json()["data"]] == [out["id"]]
    await record_history(stack, job["id"], "data-conversion-completed")


async def test_cancel_mid_file_removes_the_partial_output(
    stack: Stack, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small batches, each written slowly: the job is mid-file for seconds.
    monkeypatch.setattr(jsonreaders, "BATCH_ROWS", 10)
    real_write = writers.JsonlWriter.write

    def slow_write(self: writers.JsonlWriter, batch: Any) -> None:
        real_write(self, batch)
        time.sleep(0.02)  # in the conversion thread

    monkeypatch.setattr(writers.JsonlWriter, "write", slow_write)
    rows = [{"i": i, "text": "x" * 100} for i in range(3000)]
    source = await upload(tenant.api, "big.jsonl", jsonl_bytes(rows))
    job = await create_job(
        tenant.api,
        type="data-conversion",
        name="cancel me",
        data={"datasetId": source["id"], "outputFormat": "jsonl"},
    )
    await wait_for_job(tenant.api, job["id"], lambda j: (j["progress"] or {}).get("current", 0) > 0)
    assert len(scratch_files(stack)) == 1  # the partial output, being written
    response = await tenant.api.patch(f"/api/jobs/{job['id']}/cancel")
    assert response.status_code == 202
    done = await wait_for_job(tenant.api, job["id"])
    assert done["status"] == "cancelled"
    assert 0 < done["progress"]["current"] < done["progress"]["total"]
    assert scratch_files(stack) == []
    assert await dataset_ids(tenant.api) == [source["id"]]
    await record_history(stack, job["id"], "data-conversion-cancelled")


async def test_a_row_longer_than_the_readers_block_still_converts(tenant: Tenant) -> None:
    # 1.5 MB: past the CSV reader's first block size, within the row limit (4 MiB).
    long = "word " * 300_000
    rows = [["q", "a"], ["short", "x"], [long, "y"], ["z", "w"]]
    dataset = await upload(tenant.api, "long.csv", csv_bytes(rows))
    job = await convert(tenant.api, dataset["id"], outputFormat="jsonl")
    assert job["status"] == "completed", job
    lines = _lines(await download(tenant.api, job["result"]["datasetId"]))
    assert [line["q"] for line in lines] == ["short", long, "z"]
