"""Check-ins belong to their owner's period; reminders are kept ("no change" is 0014's)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("check_ins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("period_start", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_check_ins_key_result_period", ["key_result_id", "period_start"], unique=False
        )
    with op.batch_alter_table("prompts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reminder_channel_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("reminder_ts", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("prompts", schema=None) as batch_op:
        batch_op.drop_column("reminder_ts")
        batch_op.drop_column("reminder_channel_id")
    with op.batch_alter_table("check_ins", schema=None) as batch_op:
        batch_op.drop_index("ix_check_ins_key_result_period")
        batch_op.drop_column("period_start")
