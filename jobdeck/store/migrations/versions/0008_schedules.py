"""schedules (issue 15): schedules, their missed runs, and stuck jobs

Revision ID: 0008_schedules
Revises: 0007_pipelines
Create Date: 2026-12-06 07:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import jobdeck.store.tables

revision = "0008_schedules"
down_revision = "0007_pipelines"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("temporal_id", sa.String(length=200), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("missed_seen", sa.Integer(), nullable=False),
        sa.Column("skipped_seen", sa.Integer(), nullable=False),
        sa.Column("created_at", jobdeck.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jobdeck.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("temporal_id"),
    )
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.create_index(
            "ix_schedules_org_created", ["organization_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "schedule_misses",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("schedule_id", sa.String(length=16), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("detected_at", jobdeck.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("schedule_misses", schema=None) as batch_op:
        batch_op.create_index("ix_schedule_misses_schedule", ["schedule_id", "id"], unique=False)

    op.create_table(
        "stuck_jobs",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("since", jobdeck.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("detected_at", jobdeck.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job_id"),
    )
    with op.batch_alter_table("stuck_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_stuck_jobs_org", ["organization_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("stuck_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_stuck_jobs_org")
    op.drop_table("stuck_jobs")
    with op.batch_alter_table("schedule_misses", schema=None) as batch_op:
        batch_op.drop_index("ix_schedule_misses_schedule")
    op.drop_table("schedule_misses")
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_index("ix_schedules_org_created")
    op.drop_table("schedules")
