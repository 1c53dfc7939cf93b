"""pipelines and their versions (issue 14)

Revision ID: 0007_pipelines
Revises: 0006_documents
Create Date: 2026-12-06 07:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import jobdeck.store.tables

revision = "0007_pipelines"
down_revision = "0006_documents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("archived_at", jobdeck.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", jobdeck.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jobdeck.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("organization_id", "name", name="uq_pipelines_name"),
    )
    with op.batch_alter_table("pipelines", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pipelines_org_created", ["organization_id", "created_at", "id"], unique=False
        )
    op.create_table(
        "pipeline_versions",
        sa.Column("pipeline_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", jobdeck.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["pipeline_id"], ["pipelines.id"]),
        sa.PrimaryKeyConstraint("pipeline_id", "version"),
    )
    op.create_table(
        "pipeline_run_steps",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("output", sa.JSON(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("child_job_id", sa.String(length=36), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("started_at", jobdeck.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", jobdeck.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", jobdeck.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "step_id"),
    )
    with op.batch_alter_table("pipeline_run_steps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pipeline_run_steps_child_job_id"), ["child_job_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pipeline_run_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_run_steps_child_job_id"))
    op.drop_table("pipeline_run_steps")
    op.drop_table("pipeline_versions")
    with op.batch_alter_table("pipelines", schema=None) as batch_op:
        batch_op.drop_index("ix_pipelines_org_created")
    op.drop_table("pipelines")
