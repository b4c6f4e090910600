"""Per-workspace delays an admin sets from the App Home (reminder, digest, alert repeat)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

COLUMNS = ("reminder_hours", "digest_delay_hours", "alert_repeat_hours")


def upgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
