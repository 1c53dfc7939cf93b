"""job links: the job that started a job, and the schedule that fired it

Revision ID: 0005_job_links
Revises: 0004_job_logs
Create Date: 2026-12-06 07:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_job_links"
down_revision = "0004_job_logs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("parent_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("schedule_id", sa.String(length=64), nullable=True))
        batch.create_index("ix_jobs_parent_id", ["parent_id"])
        batch.create_index("ix_jobs_schedule_id", ["schedule_id"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_schedule_id")
        batch.drop_index("ix_jobs_parent_id")
        batch.drop_column("schedule_id")
        batch.drop_column("parent_id")
