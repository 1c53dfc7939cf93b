"""job dependencies: a job that waits for others to complete (POST /api/jobs dependsOn)

Revision ID: 0014_job_dependencies
Revises: 0013_job_rollups
Create Date: 2026-12-07 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_job_dependencies"
down_revision = "0013_job_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column: a plain ALTER on both databases (no copy of the jobs table, which
    # batch mode would make on SQLite).
    op.add_column("jobs", sa.Column("depends_on", sa.JSON(), nullable=True))
    op.create_table(
        "job_dependencies",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("depends_on_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["depends_on_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "depends_on_id"),
    )
    op.create_index(
        "ix_job_dependencies_on", "job_dependencies", ["depends_on_id", "job_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_job_dependencies_on", table_name="job_dependencies")
    op.drop_table("job_dependencies")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("depends_on")
