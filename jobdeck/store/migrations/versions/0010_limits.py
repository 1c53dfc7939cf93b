"""fair-sharing limits and quotas (issue 16)

Revision ID: 0010_limits
Revises: 0009_notifications
Create Date: 2026-12-06 07:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import jobdeck.store.tables

revision = "0010_limits"
down_revision = "0009_notifications"
branch_labels = None
depends_on = None

_TIME = jobdeck.store.tables.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "organization_limits",
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("organization_id", "name"),
    )
    op.create_table(
        "job_slots",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("job_type", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("requested_at", _TIME, nullable=False),
        sa.Column("granted_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("job_id"),
    )
    with op.batch_alter_table("job_slots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_job_slots_line", ["organization_id", "state", "priority", "seq"], unique=False
        )
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("milli_tokens", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "socket_leases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("key_id", sa.String(length=36), nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("socket_leases", schema=None) as batch_op:
        batch_op.create_index("ix_socket_leases_key", ["key_id", "expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("socket_leases", schema=None) as batch_op:
        batch_op.drop_index("ix_socket_leases_key")
    op.drop_table("socket_leases")
    op.drop_table("rate_buckets")
    with op.batch_alter_table("job_slots", schema=None) as batch_op:
        batch_op.drop_index("ix_job_slots_line")
    op.drop_table("job_slots")
    op.drop_table("organization_limits")
