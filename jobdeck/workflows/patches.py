"""The job workflows' code changes made behind `workflow.patched`, and the one marker that
stands for all of them in a run begun today.

Each `workflow.patched(id)` in a new run records a marker event and upserts Temporal's
`TemporalChangeVersion` search attribute (a visibility write): one of each per patch, per
job. With seven patches that was most of the Temporal server's extra cost per job against
a bare workflow (bench/throughput.py). So a run begun on this code records `BASELINE`
once, as its first command, and every patch in `_IN_BASELINE` is then taken as applied
without a marker of its own. A run begun before (its history has no BASELINE marker at
its start) is replayed exactly as it ran: each of its patches is asked for on its own.

`BASELINE_B` does the same for the patches made since, and stands for all of BASELINE's
too: a run begun on this code records it alone; a run begun before has BASELINE (or no
baseline) at the start of its history and is answered as before.

A later change adds a patch of its own with `workflow.patched` as usual (not to a
baseline: a baseline stands only for what runs began without).
"""

from __future__ import annotations

from temporalio import workflow

# Local activities for the bookkeeping steps.
LOCAL_BOOKKEEPING = "local-bookkeeping"
# The job is marked active by its first step when a worker slot picks it up (see
# activities/pickup.py), not by a `mark_started` activity of its own.
START_ON_PICKUP = "start-on-pickup"
# A schedule's run (issue 15): its spec comes with no job id, and the job id is the
# workflow id Temporal gave the run (the schedule id and the scheduled time).
SCHEDULED_JOB_IDS = "scheduled-job-ids"
# A job waits for a slot under its organization's concurrency limits (workflows/slots.py).
CONCURRENCY_SLOTS = "concurrency-slots"
# The slot is asked for in the job's first step (jobs.begin, with its row) and freed by
# its ending record: two bookkeeping steps per job fewer.
SLOTS_IN_RECORDS = "slots-in-records"
# A bulk operation works its targets on the item runner (workflows/items.py).
BULK_ITEMS = "bulk-item-runner"
# A job with no items ends after its seed step (runs begun before worked an empty batch).
EMPTY_ITEM_RUNS = "empty-item-runs"
# The fine-tuning record is ended with its job when it fails (and when an Ollama job is
# cancelled; a hosted one's cancel step ends it).
RECORD_ENDINGS = "fine-tuning-record-endings"

# The pipeline's (workflows/pipeline.py). Transform steps evaluated in the workflow and
# step records coalesced (runs begun before record each change and run every transform
# as an activity, and replay so).
INLINE_STEPS = "pipeline-inline-steps"
# Step records held back while an activity step runs (runs begun before record at once).
DEFERRED_RECORDS = "pipeline-deferred-records"
# Child workflows started with a fairness key (runs begun before it start them without).
CHILD_FAIRNESS = "pipeline-child-fairness"

BASELINE = "baseline-2026-12"
_IN_BASELINE = frozenset(
    {
        LOCAL_BOOKKEEPING,
        START_ON_PICKUP,
        SCHEDULED_JOB_IDS,
        CONCURRENCY_SLOTS,
        SLOTS_IN_RECORDS,
        BULK_ITEMS,
        EMPTY_ITEM_RUNS,
        RECORD_ENDINGS,
    }
)


BASELINE_B = "baseline-2026-12b"
_IN_BASELINE_B = _IN_BASELINE | {INLINE_STEPS, DEFERRED_RECORDS, CHILD_FAIRNESS}


def open_run() -> None:
    """First thing in every job workflow's run: records BASELINE_B in a new run, and learns
    which baseline an older run has. It must come first: a run that is replayed learns its
    answers here, from the start of its history, and keeps them for the whole run."""
    if not workflow.patched(BASELINE_B):
        workflow.patched(BASELINE)


def patched(patch_id: str) -> bool:
    """`workflow.patched(patch_id)`, answered by a baseline where the run has one (both
    are memoized since open_run: asking again records nothing)."""
    if patch_id in _IN_BASELINE_B and workflow.patched(BASELINE_B):
        return True
    if patch_id in _IN_BASELINE and workflow.patched(BASELINE):
        return True
    return workflow.patched(patch_id)
