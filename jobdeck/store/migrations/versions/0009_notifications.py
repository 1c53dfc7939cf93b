"""notification channels, rules and deliveries (issue 15)

Revision ID: 0009_notifications
Revises: 0008_schedules
Create Date: 2026-12-06 07:30:00.000000
"""

from __future__ import annotations

revision = "0009_notifications"
down_revision = "0008_schedules"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
