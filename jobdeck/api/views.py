"""Turning store rows into wire schemas."""

from __future__ import annotations

from datetime import UTC, datetime

from jobdeck.api.schemas import JobLinks, JobPublic, Owner
from jobdeck.config import Settings
from jobdeck.store.tables import Job


def job_public(job: Job, settings: Settings) -> JobPublic:
    end = job.finished_at or (datetime.now(UTC) if job.started_at else None)
    duration = (end - job.started_at).total_seconds() if job.started_at and end else None
    return JobPublic(
        id=job.id,
        type=job.type,
        name=job.name,
        description=job.description,
        status=job.status,
        priority=job.priority,
        data=job.data,
        progress=job.progress,  # type: ignore[arg-type]
        result=job.result,
        error=job.error,  # type: ignore[arg-type]
        attempts=job.attempts,
        retry_of=job.retry_of,
        owner=Owner(user_id=job.user_id, organization_id=job.organization_id),
        created_at=job.created_at,
        updated_at=job.updated_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        duration=round(duration, 3) if duration is not None else None,
        links=JobLinks(
            self=f"/api/jobs/{job.id}",
            events=f"/api/jobs/{job.id}/events",
            workflow=settings.workflow_url(job.id),
            retry_of=f"/api/jobs/{job.retry_of}" if job.retry_of else None,
        ),
    )
