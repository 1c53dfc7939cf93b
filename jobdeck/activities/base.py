"""What every group of activities holds: the process's clients, the job records, and the
job actions (cancel, retry) that some steps take on other jobs. The worker builds each
group once and hands it these."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from jobdeck.activities.records import JobRecords

if TYPE_CHECKING:
    from jobdeck.domain import JobSpec
    from jobdeck.runtime import Runtime
    from jobdeck.store.accounts import Principal
    from jobdeck.store.tables import Job


class JobActions(Protocol):
    """Job control as steps may use it (the services layer provides it to the worker)."""

    async def cancel(self, principal: Principal, job_id: str) -> Job: ...

    async def retry(
        self, principal: Principal, job_id: str, *, idempotency_key: str | None = None
    ) -> Job: ...

    async def prepare_started(
        self,
        principal: Principal,
        *,
        type: str,
        name: str,
        data: dict[str, Any],
        priority: int,
        job_id: str,
        created_at: str,
        progress_interval_s: float | None,
        description: str | None = None,
        parent_id: str | None = None,
        schedule_id: str | None = None,
    ) -> tuple[JobSpec, str]: ...


class ActivityGroup:
    def __init__(self, runtime: Runtime, jobs: JobActions) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.db = runtime.db
        self.files = runtime.files
        self.records = JobRecords(runtime.db, runtime.settings)
        self.jobs = jobs
