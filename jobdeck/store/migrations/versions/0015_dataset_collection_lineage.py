"""datasets made of a collection's chunks: their lineage

Revision ID: 0015_dataset_collection_lineage
Revises: 0014_job_dependencies
Create Date: 2026-12-06 14:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_dataset_collection_lineage"
down_revision = "0014_job_dependencies"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no table copy), on SQLite as on PostgreSQL.
    op.add_column("datasets", sa.Column("source_collection_id", sa.String(36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("source_collection_id")
