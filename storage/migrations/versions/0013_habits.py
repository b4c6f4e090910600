"""Habits of real teams: who entered a check-in, time away, escalation after missed periods

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("check_ins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("entered_by", sa.String(length=32), nullable=True))
    # Every check-in so far was entered by its author.
    op.execute("UPDATE check_ins SET entered_by = author_id")
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(sa.Column("escalate_after", sa.Integer(), nullable=True))
    op.create_table(
        "absences",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("until", sa.String(length=10), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["workspaces.team_id"],
            name=op.f("fk_absences_team_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_absences")),
        sa.UniqueConstraint("team_id", "user_id", name=op.f("uq_absences_team_id")),
    )


def downgrade() -> None:
    op.drop_table("absences")
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("escalate_after")
    with op.batch_alter_table("check_ins", schema=None) as batch_op:
        batch_op.drop_column("entered_by")
