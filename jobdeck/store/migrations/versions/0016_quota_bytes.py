"""organization limits hold 64-bit values: a storage quota in bytes (issue 16)

Revision ID: 0016_quota_bytes
Revises: 0015_dataset_collection_lineage
Create Date: 2026-12-06 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_quota_bytes"
down_revision = "0015_dataset_collection_lineage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite's INTEGER is 64 bits already: only PostgreSQL's int4 column changes.
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("organization_limits", "value", type_=sa.BigInteger())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("organization_limits", "value", type_=sa.Integer())
