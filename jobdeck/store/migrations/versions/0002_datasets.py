"""datasets: uploaded and converted files, with lineage and validation reports

Revision ID: 0002_datasets
Revises: 0001
Create Date: 2026-11-29 09:26:27.394045
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import jobdeck.store.tables

revision = "0002_datasets"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=500), nullable=False),
        sa.Column("source_dataset_id", sa.String(length=36), nullable=True),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("validation", sa.JSON(), nullable=True),
        sa.Column("created_at", jobdeck.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_datasets_job_id"), ["job_id"], unique=False)
        batch_op.create_index(
            "ix_datasets_org_created", ["organization_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_datasets_source_dataset_id"), ["source_dataset_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_datasets_source_dataset_id"))
        batch_op.drop_index("ix_datasets_org_created")
        batch_op.drop_index(batch_op.f("ix_datasets_job_id"))

    op.drop_table("datasets")
