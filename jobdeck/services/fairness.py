"""Fairness between organizations on the shared task queues (issue 16).

Each job's workflow starts with its organization as its Temporal fairness key (and the
organization's weight): the dev server runs with `matching.enableFairness`
(jobdeck/devserver.py), so within a priority level the matching service hands out tasks
by weighted round-robin across organizations, not first in, first out. The workflow's
activities and child workflows inherit it. An organization that queues a thousand jobs
therefore delays another's next job by about one task, not a thousand.
"""

from __future__ import annotations

from temporalio.common import Priority

from jobdeck.config import Settings
from jobdeck.domain import JobSpec
from jobdeck.fairness.limits import fairness_weight


def job_priority(settings: Settings, spec: JobSpec) -> Priority:
    """The job's priority (orders work within its organization) and its fairness key."""
    return Priority(
        priority_key=spec.priority,
        fairness_key=spec.organization_id,
        fairness_weight=fairness_weight(settings, spec.organization_id),
    )
