"""Seed an organization with jobs of every kind and state, for the screenshots in docs/.

Rows of the types this test stack does not run (fine-tuning, data-conversion...) are
written straight through the store, as their activities would; the `test-steps` jobs are
real and run while the screenshots are taken."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from jobdeck.clock import utcnow
from jobdeck.domain import EventKind, JobSpec, Progress
from jobdeck.store import jobs as job_store
from tests.conftest import Stack

STORED: list[dict[str, Any]] = [
    {
        "type": "fine-tuning",
        "name": "support-bot v7 (gpt-4o-mini)",
        "description": "12,480 conversations from the March tickets",
        "status": "active",
        "progress": Progress(1840, 3000, "steps", "training", "epoch 2 of 3", 4.2, 276),
        "age": 1900,
    },
    {
        "type": "data-conversion",
        "name": "tickets-2024.csv → JSONL",
        "description": "Chat format for fine-tuning",
        "status": "completed",
        "progress": Progress(48213, 48213, "rows", "writing", None, 5210.0, 0),
        "result": {"rows": 48213, "datasetId": "ds_7f3a"},
        "age": 5400,
        "took": 9.3,
    },
    {
        "type": "document-processing",
        "name": "Contracts Q2: extract clauses",
        "description": "312 PDFs from the legal drive",
        "status": "failed",
        "progress": Progress(187, 312, "documents", "extracting", None, 1.9, None),
        "error": {
            "type": "DocumentUnreadable",
            "message": "contract-0188.pdf is encrypted; ask for an unlocked copy",
            "details": {"file": "contract-0188.pdf", "page": None, "hint": "remove the password"},
        },
        "age": 7300,
        "took": 98.4,
    },
    {
        "type": "workflow-execution",
        "name": "Lead enrichment (user workflow #42)",
        "description": None,
        "status": "cancelled",
        "progress": Progress(64, 200, "steps", "enriching", None, None, None),
        "age": 9100,
        "took": 41.0,
    },
    {
        "type": "model-training",
        "name": "churn-classifier nightly",
        "description": "XGBoost on the feature store snapshot",
        "status": "pending",
        "progress": None,
        "age": 30,
    },
    {
        "type": "bulk-operation",
        "name": "retry failed conversions",
        "description": "Started from the dashboard",
        "status": "completed",
        "progress": Progress(23, 23, "jobs", "retry", None, 11.5, 0),
        "result": {"matched": 23, "processed": 23, "succeeded": 23, "skipped": 0, "failed": 0},
        "age": 11000,
        "took": 2.0,
    },
]


async def seed(stack: Stack, organization_id: str, user_id: str) -> dict[str, str]:
    """Write the stored showcase jobs; returns their ids by name."""
    now = utcnow()
    ids: dict[str, str] = {}
    async with stack.db.write() as session:
        for item in STORED:
            job_id = str(uuid.uuid4())
            ids[item["name"]] = job_id
            created: datetime = now - timedelta(seconds=item["age"])
            spec = JobSpec(
                job_id=job_id,
                organization_id=organization_id,
                user_id=user_id,
                type=item["type"],
                name=item["name"],
                description=item["description"],
                data={"source": "showcase"},
                created_at=created.isoformat(),
            )
            await job_store.insert_job(session, spec=spec, now=created)
            if item["status"] == "pending":
                continue
            started = created + timedelta(seconds=1.5)
            values: dict[str, Any] = {
                "status": item["status"],
                "started_at": started,
                "attempts": 1,
                "progress": item["progress"].to_json() if item["progress"] else None,
            }
            if "took" in item:
                values["finished_at"] = started + timedelta(seconds=item["took"])
            for key in ("result", "error"):
                if key in item:
                    values[key] = item[key]
            kind = {
                "active": EventKind.PROGRESS,
                "completed": EventKind.COMPLETED,
                "failed": EventKind.FAILED,
                "cancelled": EventKind.CANCELLED,
            }[item["status"]]
            await job_store.change_job(
                session, job_id=job_id, kind=EventKind.STARTED, now=started, values={}
            )
            await job_store.change_job(session, job_id=job_id, kind=kind, now=now, values=values)
    return ids
