"""The normal range each measurement was judged by, and who snoozed an alert

Revision ID: 0009
Revises: 0004
Create Date: 2026-12-01 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("measurements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("low", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("high", sa.Float(), nullable=True))
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("snoozed_by", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("snoozed_by")
    with op.batch_alter_table("measurements", schema=None) as batch_op:
        batch_op.drop_column("high")
        batch_op.drop_column("low")
