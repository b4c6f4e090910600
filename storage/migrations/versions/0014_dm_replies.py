"""Check-ins remember the DM that produced them and whether they said "no change"

An edited DM (`message_changed`) replaces the check-ins of that message, so each
check-in keeps the Slack ts of the DM it came from; `same` / `no change` answers
the period without a new value, stored as the previous value and `no_change`.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("check_ins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_ts", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("no_change", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index(
            "ix_check_ins_message", ["team_id", "entered_by", "message_ts"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("check_ins", schema=None) as batch_op:
        batch_op.drop_index("ix_check_ins_message")
        batch_op.drop_column("no_change")
        batch_op.drop_column("message_ts")
