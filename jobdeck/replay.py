"""Replay a live namespace's recent histories on this code, before deploying it.

Temporal's advice for a workflow change: replay real histories with the new code first. A
change that is not replay-safe (a step added, removed or reordered without
`workflow.patched`) strands the running jobs that started on the old code; replayed here,
it shows up as a failure naming each execution it would break.

`replay_namespace` lists the most recent executions (running and closed) of each workflow
type through visibility, fetches their histories, replays them with `Replayer` on the
given workflow classes, and reports per-type counts and every failure. It can also save
the fetched histories as JSON files in the format of tests/histories, to keep as replay
fixtures (look at them first: they hold the jobs' inputs and results).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowExecution, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer, WorkflowReplayResult

from jobdeck.workflows.jobtype import workflow_name


@dataclass(frozen=True)
class ReplayFailure:
    """An execution whose history the given code cannot replay."""

    workflow_type: str
    workflow_id: str
    run_id: str
    error: str


@dataclass
class TypeCounts:
    """One workflow type's executions: replayed (failures included), failed, and skipped
    (listed, but its history was gone by the time it was fetched)."""

    replayed: int = 0
    failed: int = 0
    skipped: int = 0


@dataclass
class ReplayReport:
    counts: dict[str, TypeCounts] = field(default_factory=dict)
    failures: list[ReplayFailure] = field(default_factory=list)
    saved: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def replayed(self) -> int:
        return sum(c.replayed for c in self.counts.values())

    def summary(self) -> str:
        """A few lines for a person: one per type, then each failure."""
        lines = [
            f"{name}: {c.replayed} replayed, {c.failed} failed"
            + (f", {c.skipped} skipped (history gone)" if c.skipped else "")
            for name, c in sorted(self.counts.items())
        ]
        lines += [
            f"FAILED {f.workflow_type} {f.workflow_id} (run {f.run_id}): {f.error}"
            for f in self.failures
        ]
        verdict = "all replayed" if self.ok else f"{len(self.failures)} failed to replay"
        lines.append(f"{self.replayed} histories: {verdict}")
        return "\n".join(lines)


def type_query(workflow_type: str, query: str | None = None) -> str:
    """The visibility query for one workflow type, narrowed by `query` if given."""
    if "'" in workflow_type:
        raise ValueError(f"a workflow type with a quote cannot be queried: {workflow_type!r}")
    own = f"WorkflowType = '{workflow_type}'"
    return f"{own} AND ({query})" if query else own


async def replay_namespace(
    client: Client,
    workflows: Sequence[type[Any]],
    *,
    workflow_types: Sequence[str] | None = None,
    limit_per_type: int = 20,
    query: str | None = None,
    save_to: Path | None = None,
) -> ReplayReport:
    """Replay the latest `limit_per_type` executions of each workflow type of the client's
    namespace on `workflows`.

    workflow_types: the types to list (default: those of `workflows`). A type listed here
      that `workflows` lacks fails each of its executions: the code cannot run them.
    query: a visibility filter added to each type's, e.g. "ExecutionStatus = 'Running'"
      or "StartTime > '2025-01-01T00:00:00Z'".
    save_to: a folder to write each fetched history to, as
      `<type>-<workflow id>-<run id>.json` (the format of tests/histories).
    """
    if limit_per_type < 1:
        raise ValueError("limit_per_type must be at least 1")
    if workflow_types is None:
        workflow_types = list(dict.fromkeys(workflow_name(cls) for cls in workflows))
    report = ReplayReport(counts={name: TypeCounts() for name in workflow_types})
    listed: list[tuple[str, WorkflowExecution]] = []
    for name in workflow_types:
        executions = client.list_workflows(type_query(name, query), limit=limit_per_type)
        listed += [(name, execution) async for execution in executions]
    if not listed:
        return report

    fetched: list[tuple[str, WorkflowExecution]] = []  # in replay order

    async def histories() -> AsyncIterator[WorkflowHistory]:
        for name, execution in listed:
            handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
            try:
                history = await handle.fetch_history()
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                report.counts[name].skipped += 1  # retention removed it since listing
                continue
            if save_to is not None:
                saved = await asyncio.to_thread(_save, save_to, name, execution, history)
                report.saved.append(saved)
            fetched.append((name, execution))
            yield history

    replayer = Replayer(workflows=list(workflows))
    async with replayer.workflow_replay_iterator(histories()) as results:
        done = 0
        async for result in results:
            # The iterator replays one history at a time, in the order they were given.
            name, execution = fetched[done]
            done += 1
            counts = report.counts[name]
            counts.replayed += 1
            if result.replay_failure is not None:
                counts.failed += 1
                report.failures.append(
                    ReplayFailure(name, execution.id, execution.run_id, _describe(result))
                )
    return report


# Core reports a failed activation as the Debug form of its Failure; its message is the news.
_CORE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')


def _describe(result: WorkflowReplayResult) -> str:
    failure = result.replay_failure
    kind = type(failure).__name__
    text = str(failure)
    found = _CORE_MESSAGE.search(text)
    if found:
        text = found.group(1).replace('\\"', '"')
    return f"{kind}: {text}" if text else kind


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _save(folder: Path, name: str, execution: WorkflowExecution, history: WorkflowHistory) -> Path:
    stem = "-".join(_UNSAFE.sub("_", part) for part in (name, execution.id, execution.run_id))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.json"
    path.write_text(json.dumps(history.to_json_dict(), indent=1))
    return path
