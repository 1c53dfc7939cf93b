"""the operator's dashboard: indexes for the sorted jobs list and the charts over time

Revision ID: 0011_operations
Revises: 0010_limits
Create Date: 2026-12-06 07:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0011_operations"
down_revision = "0010_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # GET /api/jobs?sort=status (and a status filter in creation order).
    op.create_index(
        "ix_jobs_org_status_created", "jobs", ["organization_id", "status", "created_at", "id"]
    )
    # GET /api/stats/timeseries: jobs finished per bucket and their durations by type.
    op.create_index(
        "ix_jobs_org_finished",
        "jobs",
        ["organization_id", "finished_at", "status", "type", "started_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_org_finished", table_name="jobs")
    op.drop_index("ix_jobs_org_status_created", table_name="jobs")
