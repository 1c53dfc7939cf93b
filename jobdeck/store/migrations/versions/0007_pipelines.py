"""pipelines and their versions (issue 14)

Revision ID: 0007_pipelines
Revises: 0006_documents
Create Date: 2026-12-06 07:30:00.000000
"""

from __future__ import annotations

revision = "0007_pipelines"
down_revision = "0006_documents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
