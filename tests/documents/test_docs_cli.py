"""`jobdeck docs` against a real API server (uvicorn on a free port): create, list, upload
files and a zip, process with --follow, search and export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.api.test_cli import _cli, api_url, cli_env  # noqa: F401 (fixtures)
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
