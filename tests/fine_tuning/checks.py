"""What the fine-tuning tests check the same way: progress as a person reads it, and a
workflow's history as text (payloads decoded), where no secret may appear."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from typing import Any

from tests.conftest import Stack


def progress_reports(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The job's progress as it was written, in order."""
    return [e["data"]["job"]["progress"] for e in events if e["kind"] == "progress"]


def assert_progress_never_goes_back(reports: list[dict[str, Any]]) -> None:
    """Within a stage (and unit), the count never goes down, and never past its total."""
    last: dict[tuple[str | None, str], float] = {}
    for report in reports:
        key = (report["stage"], report["unit"])
        if report["total"] is not None:
            assert report["current"] <= report["total"], report
        assert report["current"] >= last.get(key, 0), (report, last)
        last[key] = report["current"]


def _decoded(value: Any) -> Iterator[str]:
    """Every payload's data in a history's JSON, decoded (they are base64 there)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "data" and isinstance(item, str):
                try:
                    yield base64.b64decode(item, validate=True).decode(errors="replace")
                except (binascii.Error, ValueError):
                    pass
            yield from _decoded(item)
    elif isinstance(value, list):
        for item in value:
            yield from _decoded(item)


async def history_text(stack: Stack, job_id: str) -> str:
    """Everything the job's workflow history holds (every run), as searchable text: what
    `temporal workflow show` and the Web UI would show."""
    handle = stack.runtime.temporal.get_workflow_handle(job_id)
    history = (await handle.fetch_history()).to_json_dict()
    return json.dumps(history) + "\n".join(_decoded(history))
