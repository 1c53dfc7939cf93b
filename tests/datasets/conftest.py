"""Helpers for the dataset tests: make small files in every format, upload them, run a
conversion, and look at what storage holds."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
from openpyxl import Workbook

from tests.conftest import Stack
from tests.helpers import create_job, wait_for_job

QA = [(f"question {i}?", f"answer {i}.") for i in range(12)]


def csv_bytes(rows: list[list[str]], delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return text.getvalue().encode(encoding)


def jsonl_bytes(records: list[Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def qa_csv() -> bytes:
    return csv_bytes([["q", "a"], *[list(pair) for pair in QA]])


async def upload(
    api: httpx.AsyncClient, filename: str, content: bytes, **fields: str
) -> dict[str, Any]:
    response = await api.post("/api/datasets", files={"file": (filename, content)}, data=fields)
    assert response.status_code == 201, response.text
    dataset: dict[str, Any] = response.json()
    return dataset


async def convert(
    api: httpx.AsyncClient, dataset_id: str, *, within: float = 30, **data: Any
) -> dict[str, Any]:
    """Run a data-conversion job to its end and return it."""
    job = await create_job(
        api, type="data-conversion", name="convert", data={"datasetId": dataset_id, **data}
    )
    return await wait_for_job(api, job["id"], within=within)


async def download(api: httpx.AsyncClient, dataset_id: str) -> bytes:
    response = await api.get(f"/api/datasets/{dataset_id}/download")
    assert response.status_code == 200, response.text
    return response.content


async def dataset_ids(api: httpx.AsyncClient) -> list[str]:
    response = await api.get("/api/datasets", params={"limit": 200})
    assert response.status_code == 200, response.text
    return [d["id"] for d in response.json()["data"]]


def scratch_files(stack: Stack) -> list[Path]:
    """Files being written (uploads, conversions): none once every request and job ended."""
    folder = stack.settings.dataset_root / "scratch"
    return sorted(folder.iterdir()) if folder.exists() else []


def stored_files(stack: Stack) -> set[Path]:
    folder = stack.settings.dataset_root / "objects"
    return {p for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()
