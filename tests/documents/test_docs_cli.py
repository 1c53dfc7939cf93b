"""`jobdeck docs` against a real API server (uvicorn on a free port): create, list, upload
files and a zip, process with --follow, ingest a folder or a dataset's text column with the
live bar, search and export; and what each bad input to `docs ingest` gets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.api.test_cli import _cli, api_url, cli_env  # noqa: F401 (fixtures)
from tests.conftest import Tenant
from tests.documents.test_document_sources import RIVERS_CSV, _dataset
from tests.documents.test_uploads import make_zip


async def test_docs_commands(
    cli_env: None,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = await _cli(capsys, "docs", "create", "handbook", "--max-tokens", "64")
    assert code == 0, err
    collection = json.loads(out)
    code, out, _ = await _cli(capsys, "docs", "collections")
    assert code == 0 and collection["id"] in out and "handbook" in out
    assert "[local/all-MiniLM-L6-v2]" in out

    (tmp_path / "rivers.txt").write_text("The Danube flows through ten countries. " * 30)
    (tmp_path / "bundle.zip").write_bytes(
        make_zip(
            {
                "geo/forests.md": b"# Forests\n\nThe taiga is the largest land biome. " * 20,
                "old/archive.zip": b"PK",
            }
        )
    )
    code, out, err = await _cli(
        capsys,
        "docs",
        "upload",
        "handbook",
        str(tmp_path / "rivers.txt"),
        str(tmp_path / "bundle.zip"),
    )
    assert code == 0, err
    assert "rivers.txt" in out and "geo_forests.md" in out
    assert "skipped  old/archive.zip: an archive inside the archive" in out

    code, out, err = await _cli(capsys, "docs", "process", collection["id"], "--follow")
    assert code == 0, (out, err)
    assert "completed: documents 2, succeeded 2, failed 0" in out

    code, out, err = await _cli(capsys, "docs", "search", "handbook", "largest biome", "--k", "2")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2 and "geo_forests.md p.1" in lines[0]

    target = tmp_path / "chunks.jsonl"
    code, _, err = await _cli(capsys, "docs", "export", "handbook", "-o", str(target))
    assert code == 0, err
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert {r["filename"] for r in rows} == {"rivers.txt", "geo_forests.md"}
    code, out, _ = await _cli(capsys, "docs", "export", "handbook", "--vectors")
    assert code == 0 and len(out.splitlines()) == len(rows) and '"embedding": [' in out

    code, _, err = await _cli(capsys, "docs", "search", "no-such-collection", "x")
    assert code == 1 and "no collection with the id or name 'no-such-collection'" in err
    code, _, err = await _cli(capsys, "docs", "upload", "handbook", str(tmp_path))
    assert code == 2 and "is not a file" in err
    (tmp_path / "bomb.zip").write_bytes(make_zip({"zeros.txt": b"\x00" * (8 * 1024**2)}))
    code, _, err = await _cli(capsys, "docs", "upload", "handbook", str(tmp_path / "bomb.zip"))
    assert code == 1 and "error 413" in err and "zip bomb" in err
    code, _, err = await _cli(capsys, "docs", "create", "handbook")
    assert code == 1 and "error 409" in err


async def _processing_jobs(tenant: Tenant) -> list[dict[str, object]]:
    response = await tenant.api.get("/api/jobs", params={"type": "document-processing"})
    assert response.status_code == 200, response.text
    jobs: list[dict[str, object]] = response.json()["data"]
    return jobs


async def test_docs_ingest_a_datasets_text_column_with_the_live_bar(
    cli_env: None,  # noqa: F811
    tenant: Tenant,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = await _cli(capsys, "docs", "create", "rivers")
    assert code == 0, err
    # Two uploads under one name: the name picks the newer, which has the Rhine.
    await _dataset(tenant.api, "rivers.csv", "id,title,text\n1,Old,An older upload.\n")
    newer = await _dataset(
        tenant.api, "rivers.csv", RIVERS_CSV + "5,Rhine,The Rhine flows from the Alps north.\n"
    )

    code, out, err = await _cli(
        capsys,
        "docs",
        "ingest",
        "--collection",
        "rivers",
        "--dataset",
        "rivers.csv",
        "--column",
        "text",
        "--title-column",
        "title",
    )
    assert code == 0, (out, err)
    assert "job " in out and " started" in out
    # The live bar (a line per change off a terminal), in documents, then the outcome; the
    # row with no text is skipped, not failed.
    assert "[########################]  100.0%  5/5 documents" in out, out
    assert "completed: documents 5, succeeded 4, failed 0" in out, out
    jobs = await _processing_jobs(tenant)
    assert len(jobs) == 1
    job = (await tenant.api.get(f"/api/jobs/{jobs[0]['id']}")).json()
    assert job["data"]["datasetId"] == newer["id"] and job["data"]["textColumn"] == "text"

    code, out, err = await _cli(
        capsys,
        "docs",
        "ingest",
        "--collection",
        "rivers",
        "--dataset",
        newer["id"],
        "--column",
        "text",
        "--title-column",
        "title",
        "--force",
    )
    assert code == 0, (out, err)
    assert "completed: documents 5, succeeded 4, failed 0" in out, out
    code, out, err = await _cli(capsys, "docs", "search", "rivers", "Rhine Alps", "--k", "1")
    assert code == 0 and "Rhine" in out, (out, err)


async def test_docs_ingest_a_folder_with_the_live_bar(
    cli_env: None,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = await _cli(capsys, "docs", "create", "notes")
    assert code == 0, err
    folder = tmp_path / "notes"
    (folder / "geo").mkdir(parents=True)
    (folder / "rivers.txt").write_text("The Danube flows through ten countries. " * 30)
    (folder / "geo" / "forests.md").write_text("# Forests\n\nThe taiga is vast. " * 20)
    (folder / ".hidden").write_text("left out")
    code, out, err = await _cli(capsys, "docs", "ingest", str(folder), "--collection", "notes")
    assert code == 0, (out, err)
    assert "uploaded 2/2 files" in out
    assert "[########################]  100.0%  2/2 documents" in out, out
    assert "completed: documents 2, succeeded 2, failed 0" in out, out
    code, out, _ = await _cli(capsys, "docs", "search", "notes", "taiga", "--k", "1")
    assert code == 0 and "geo_forests.md" in out


async def test_docs_ingest_bad_input_gets_a_clear_error_and_starts_nothing(
    cli_env: None,  # noqa: F811
    tenant: Tenant,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = await _cli(capsys, "docs", "create", "geo")
    assert code == 0, err
    dataset = await _dataset(tenant.api, "rivers.csv", RIVERS_CSV)
    (tmp_path / "a.txt").write_text("some text")
    base = ["docs", "ingest", "--collection", "geo"]
    with_dataset = [*base, "--dataset", "rivers.csv"]
    cases: list[tuple[list[str], int, str]] = [
        # Neither a folder nor a dataset, or both.
        (base, 2, "error: give a folder (DIR) or --dataset, one of the two"),
        ([*with_dataset, str(tmp_path), "--column", "text"], 2, "one of the two"),
        # A dataset without its text column; a column without a dataset.
        (with_dataset, 2, "error: --dataset needs --column"),
        ([*base, str(tmp_path), "--column", "text"], 2, "--column and --title-column go with"),
        ([*base, str(tmp_path / "a.txt")], 2, f"error: {tmp_path / 'a.txt'} is not a folder"),
        # Unknown dataset (by name, by id), unknown collection.
        (
            [*base, "--dataset", "lakes.csv", "--column", "text"],
            1,
            "error: no dataset with the id or name 'lakes.csv'",
        ),
        (
            [*base, "--dataset", "00000000-0000-0000-0000-000000000000", "--column", "text"],
            1,
            "no dataset with the id or name '00000000-0000-0000-0000-000000000000'",
        ),
        (
            ["docs", "ingest", "--collection", "nope", "--dataset", dataset["id"], "--column", "x"],
            1,
            "error: no collection with the id or name 'nope'",
        ),
        # Unknown columns: refused by the API before any job, naming the dataset's columns.
        (
            [*with_dataset, "--column", "body"],
            1,
            "error 422: data.textColumn: dataset 'rivers.csv' has no column 'body'",
        ),
        (
            [*with_dataset, "--column", "text", "--title-column", "name"],
            1,
            "error 422: data.titleColumn: dataset 'rivers.csv' has no column 'name'",
        ),
    ]
    for argv, want_code, want_err in cases:
        code, out, err = await _cli(capsys, *argv)
        assert (code, want_err in err) == (want_code, True), (argv, out, err)
        assert "started" not in out, (argv, out)
    (tmp_path / "empty").mkdir()
    code, _, err = await _cli(capsys, *base, str(tmp_path / "empty"))
    assert code == 1 and f"error: {tmp_path / 'empty'} has no files" in err
    assert await _processing_jobs(tenant) == []  # nothing was started
