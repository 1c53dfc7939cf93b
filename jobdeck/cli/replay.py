"""`jobdeck replay`: before a deploy, replay the namespace's recent histories of each job
type on the code about to be deployed (Temporal's advice for a workflow change). Exits 1
when any history does not replay, naming each execution the change would strand."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from jobdeck.config import Settings


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from jobdeck.registry import load_registry
    from jobdeck.replay import replay_namespace
    from jobdeck.temporal import connect

    registry = load_registry(settings.job_type_modules)
    types = args.type or None
    if types:
        known = sorted(t.name for t in registry.all())
        unknown = sorted(set(types) - set(known))
        if unknown:
            print(
                f"unknown job type(s) {', '.join(unknown)}; known: {', '.join(known)}",
                file=sys.stderr,
            )
            return 2

    async def run() -> int:
        client = await connect(settings)
        report = await replay_namespace(
            client,
            registry.workflows(),
            workflow_types=types,
            limit_per_type=args.limit,
            query=args.query,
            save_to=args.save,
        )
        print(report.summary())
        if args.save:
            print(f"saved {len(report.saved)} histories to {args.save}")
        return 0 if report.ok else 1

    return asyncio.run(run())


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = sub.add_parser(
        "replay",
        help="replay recent histories of the namespace on this code (run before a deploy)",
    )
    replay.add_argument(
        "--type", action="append", help="a job type to replay (repeatable; default: all)"
    )
    replay.add_argument("--limit", type=int, default=20, help="executions per type (20)")
    replay.add_argument("--query", help="a visibility filter, e.g. \"ExecutionStatus = 'Running'\"")
    replay.add_argument("--save", type=Path, help="also save the histories as JSON here")
