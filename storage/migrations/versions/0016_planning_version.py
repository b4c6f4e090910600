"""A workspace's planning version: the idle tick asks "who is due" only when it can change

Who is due a prompt changes only when time crosses some owner's slot, or when the
data behind it changes: a key result added or moved (owner, objective), an
objective (re)activated or moved to another channel, a cached user's time zone
added, changed or forgotten, a prompt deleted. Triggers bump
`workspaces.planning_version` on each of those writes, whichever code makes them;
planning remembers the version (and schedules) it last answered for and the span of
time that answer holds for, and skips the question until one of them changes.

SQLite drops a table's triggers when a batch migration rebuilds it: a later
migration that rebuilds key_results, objectives, slack_users or prompts must create
them again (`create_triggers`); `tests/storage` checks they fire at head.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# (trigger name, table, event, SQLite WHEN condition or None, the row that names the team)
TRIGGERS = [
    ("okrbot_plan_kr_insert", "key_results", "INSERT", None, "NEW"),
    (
        "okrbot_plan_kr_update",
        "key_results",
        "UPDATE OF owner_id, objective_id, created_at",
        "OLD.owner_id IS NOT NEW.owner_id OR OLD.objective_id IS NOT NEW.objective_id"
        " OR OLD.created_at IS NOT NEW.created_at",
        "NEW",
    ),
    (
        "okrbot_plan_objective_update",
        "objectives",
        "UPDATE OF status, channel_id",
        "OLD.status IS NOT NEW.status OR OLD.channel_id IS NOT NEW.channel_id",
        "NEW",
    ),
    ("okrbot_plan_user_insert", "slack_users", "INSERT", None, "NEW"),
    ("okrbot_plan_user_update", "slack_users", "UPDATE OF tz", "OLD.tz IS NOT NEW.tz", "NEW"),
    ("okrbot_plan_user_delete", "slack_users", "DELETE", None, "OLD"),
    ("okrbot_plan_prompt_delete", "prompts", "DELETE", None, "OLD"),
]
PG_FUNCTION = "okrbot_bump_planning_version"


def create_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            f"""
            CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE' THEN
                    UPDATE workspaces SET planning_version = planning_version + 1
                    WHERE team_id = OLD.team_id;
                    RETURN OLD;
                END IF;
                UPDATE workspaces SET planning_version = planning_version + 1
                WHERE team_id = NEW.team_id;
                RETURN NEW;
            END $$
            """
        )
    for name, table, event, when, row in TRIGGERS:
        if dialect == "postgresql":
            condition = f"WHEN ({when.replace('IS NOT', 'IS DISTINCT FROM')})" if when else ""
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW {condition} "
                f"EXECUTE FUNCTION {PG_FUNCTION}()"
            )
        else:
            condition = f"WHEN {when}" if when else ""
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW {condition} "
                "BEGIN UPDATE workspaces SET planning_version = planning_version + 1 "
                f"WHERE team_id = {row}.team_id; END"
            )


def drop_triggers() -> None:
    dialect = op.get_bind().dialect.name
    for name, table, *_ in TRIGGERS:
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    if dialect == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")


def upgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("planning_version", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("prompts_planned_key", sa.String(length=255)))
        batch_op.add_column(sa.Column("prompts_planned_from", sa.DateTime(timezone=True)))
        batch_op.add_column(sa.Column("prompts_planned_until", sa.DateTime(timezone=True)))
        batch_op.add_column(sa.Column("owners_missing", sa.Integer()))
        batch_op.add_column(sa.Column("owners_missing_version", sa.Integer()))
    # The idle tick's other questions, answered from an index instead of a scan.
    op.create_index(
        "ix_prompts_reminders", "prompts", ["team_id", "state", "reminded_at", "sent_at"]
    )
    op.create_index("ix_outbox_created", "outbox", ["created_at"])
    create_triggers()


def downgrade() -> None:
    drop_triggers()
    op.drop_index("ix_outbox_created", table_name="outbox")
    op.drop_index("ix_prompts_reminders", table_name="prompts")
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("owners_missing_version")
        batch_op.drop_column("owners_missing")
        batch_op.drop_column("prompts_planned_until")
        batch_op.drop_column("prompts_planned_from")
        batch_op.drop_column("prompts_planned_key")
        batch_op.drop_column("planning_version")
