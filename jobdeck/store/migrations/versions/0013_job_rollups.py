"""the operator's charts at a million jobs: sealed buckets counted once (store/rollups.py)

Revision ID: 0013_job_rollups
Revises: 0012_list_indexes
Create Date: 2026-12-06 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import jobdeck.store.tables

revision = "0013_job_rollups"
down_revision = "0012_list_indexes"
branch_labels = None
depends_on = None

_TIME = jobdeck.store.tables.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "job_rollups",
        sa.Column("organization_id", sa.String(36), primary_key=True),
        sa.Column("bucket_s", sa.Integer, primary_key=True),
        sa.Column("bucket_start", _TIME, primary_key=True),
        sa.Column("type", sa.String(64), primary_key=True),
        sa.Column("created", sa.Integer, nullable=False),
        sa.Column("completed", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("cancelled", sa.Integer, nullable=False),
        sa.Column("durations", sa.JSON(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("job_rollups")
