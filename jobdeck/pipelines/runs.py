"""What a run of a pipeline is made of, as workflow, activities and API share it."""

from __future__ import annotations

from enum import StrEnum


class StepStatus(StrEnum):
    PENDING = "pending"  # not started: its dependencies have not finished
    RUNNING = "running"  # its work is under way (an activity, a timer, a child job)
    WAITING = "waiting"  # an approval step waiting for a person
    COMPLETED = "completed"  # done, with its output
    FAILED = "failed"  # ended with an error (the run fails unless continueOnError)
    SKIPPED = "skipped"  # its condition was false, or a dependency was skipped or failed
    CANCELLED = "cancelled"  # the run was cancelled, or failed elsewhere, before it ended


TERMINAL_STEP_STATUSES = frozenset(
    {StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED}
)
