"""Replay protection, uninstall grace period, room for encrypted Slack tokens

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# slack_sdk's OAuth tables keep tokens in VARCHAR(200): an encrypted token is longer.
_TOKEN_COLUMNS = {
    "slack_installations": ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token"),
    "slack_bots": ("bot_token", "bot_refresh_token"),
}


def upgrade() -> None:
    op.create_table(
        "request_signatures",
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("signature", name=op.f("pk_request_signatures")),
    )
    op.create_index(
        op.f("ix_request_signatures_signed_at"), "request_signatures", ["signed_at"], unique=False
    )
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uninstalled_at", sa.DateTime(timezone=True), nullable=True))
    # Workspaces removed before this migration start their grace period now.
    workspaces = sa.table(
        "workspaces",
        sa.column("installed", sa.Boolean()),
        sa.column("uninstalled_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        workspaces.update()
        .where(workspaces.c.installed.is_(False))
        .values(uninstalled_at=sa.func.current_timestamp())
    )
    for table, columns in _TOKEN_COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.alter_column(
                    column, existing_type=sa.String(length=200), type_=sa.String(length=1000)
                )


def downgrade() -> None:
    for table, columns in _TOKEN_COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.alter_column(
                    column, existing_type=sa.String(length=1000), type_=sa.String(length=200)
                )
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("uninstalled_at")
    op.drop_index(op.f("ix_request_signatures_signed_at"), table_name="request_signatures")
    op.drop_table("request_signatures")
