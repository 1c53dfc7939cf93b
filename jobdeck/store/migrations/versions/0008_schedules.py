"""schedules (issue 15)

Revision ID: 0008_schedules
Revises: 0007_pipelines
Create Date: 2026-12-06 07:30:00.000000
"""

from __future__ import annotations

revision = "0008_schedules"
down_revision = "0007_pipelines"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
