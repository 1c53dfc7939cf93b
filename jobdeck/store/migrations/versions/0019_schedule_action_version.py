"""each schedule row records the version of its Temporal Schedule's action, so a worker's
start moves only the schedules not moved yet to the current action, once each, rather
than asking Temporal about every schedule at every start (issue 15)

Revision ID: 0019_schedule_action_version
Revises: 0018_schedule_refused_runs
Create Date: 2026-12-07 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_schedule_action_version"
down_revision = "0018_schedule_refused_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The rows there now get 0, "not known": the next worker start asks Temporal about each
    # once (services/schedules.upgrade_actions) and records the version it leaves.
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("action_version", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_column("action_version")
