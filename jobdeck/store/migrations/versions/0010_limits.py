"""fair-sharing limits and quotas (issue 16)

Revision ID: 0010_limits
Revises: 0009_notifications
Create Date: 2026-12-06 07:30:00.000000
"""

from __future__ import annotations

revision = "0010_limits"
down_revision = "0009_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
