"""a refused schedule firing keeps the id its job would have had, so its run in the
schedule's last runs is shown refused, not "not recorded yet" (issue 15)

Revision ID: 0018_schedule_refused_runs
Revises: 0017_pipeline_blobs
Create Date: 2026-12-06 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_schedule_refused_runs"
down_revision = "0017_pipeline_blobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Refusals recorded before keep a null id: nothing tells which firing each one was.
    with op.batch_alter_table("schedule_misses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("job_id", sa.String(length=36), nullable=True))
        batch_op.create_index("uq_schedule_misses_run", ["schedule_id", "job_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("schedule_misses", schema=None) as batch_op:
        batch_op.drop_index("uq_schedule_misses_run")
        batch_op.drop_column("job_id")
