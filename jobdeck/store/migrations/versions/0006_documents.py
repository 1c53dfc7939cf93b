"""documents, collections and item-level results (issue 13)

Revision ID: 0006_documents
Revises: 0005_job_links
Create Date: 2026-12-06 07:30:00.000000
"""

from __future__ import annotations

revision = "0006_documents"
down_revision = "0005_job_links"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
