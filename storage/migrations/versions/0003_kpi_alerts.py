"""KPI detector state and alert details

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 14:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kpis", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detector_state", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("last_measurement_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("low", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("high", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("worst_value", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("worst_value")
        batch_op.drop_column("high")
        batch_op.drop_column("low")
        batch_op.drop_column("last_at")
    with op.batch_alter_table("kpis", schema=None) as batch_op:
        batch_op.drop_column("last_measurement_at")
        batch_op.drop_column("detector_state")
