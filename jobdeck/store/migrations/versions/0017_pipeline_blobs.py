"""pipeline step outputs kept in file storage count toward the storage quota (issue 16)

Revision ID: 0017_pipeline_blobs
Revises: 0016_quota_bytes
Create Date: 2026-12-06 16:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import jobdeck.store.tables

revision = "0017_pipeline_blobs"
down_revision = "0016_quota_bytes"
branch_labels = None
depends_on = None

_TIME = jobdeck.store.tables.UTCDateTime(timezone=True)


def upgrade() -> None:
    # Outputs stored before this table are not counted (nothing says whose they are but
    # their key); the runs that wrote them keep reading them as before.
    op.create_table(
        "pipeline_blobs",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("job_id", "key"),
    )
    with op.batch_alter_table("pipeline_blobs", schema=None) as batch_op:
        batch_op.create_index("ix_pipeline_blobs_org_key", ["organization_id", "key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pipeline_blobs", schema=None) as batch_op:
        batch_op.drop_index("ix_pipeline_blobs_org_key")
    op.drop_table("pipeline_blobs")
