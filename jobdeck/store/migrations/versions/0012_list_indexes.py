"""the operator's list at 1,000,000 jobs: indexes for the type filter, the duration sort and
the search

Revision ID: 0012_list_indexes
Revises: 0011_operations
Create Date: 2026-12-06 11:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_list_indexes"
down_revision = "0011_operations"
branch_labels = None
depends_on = None

# The expressions of store/tables.py's JOB_DURATION_MS and JOB_SEARCH_TEXTS, as written
# there: the planner uses an expression index only for the very expression.
_DURATION_MS = (
    "coalesce(CAST(round(EXTRACT(epoch FROM finished_at - started_at) * 1000) AS BIGINT), -1)"
)
_SEARCH_TEXTS = ("lower(name)", "lower(coalesce(description, ''))", "lower(type)")


def upgrade() -> None:
    # GET /api/jobs?type= in creation order, and its count, on both databases.
    op.create_index(
        "ix_jobs_org_type_created", "jobs", ["organization_id", "type", "created_at", "id"]
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    # GET /api/jobs?sort=duration (and -duration): the sort key, then the keyset.
    op.create_index(
        "ix_jobs_org_duration",
        "jobs",
        ["organization_id", sa.text(_DURATION_MS), "created_at", "id"],
    )
    # GET /api/jobs?q=: a substring of the name, description or type. pg_trgm ships with
    # PostgreSQL (contrib) and is a trusted extension: the database's owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index(
        "ix_jobs_search",
        "jobs",
        [sa.text(f"{text} gin_trgm_ops") for text in _SEARCH_TEXTS],
        postgresql_using="gin",
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_jobs_search", table_name="jobs")
        op.drop_index("ix_jobs_org_duration", table_name="jobs")
    op.drop_index("ix_jobs_org_type_created", table_name="jobs")
