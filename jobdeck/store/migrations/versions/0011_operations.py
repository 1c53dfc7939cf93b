"""the operator's dashboard (issue 18)

Revision ID: 0011_operations
Revises: 0010_limits
Create Date: 2026-12-06 07:30:00.000000
"""

from __future__ import annotations

revision = "0011_operations"
down_revision = "0010_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
