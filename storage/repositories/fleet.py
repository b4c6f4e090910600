"""The few queries that span workspaces, each named for why it must.

Everything else goes through a team-bound repository.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import MetaData, Table, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    ApiToken,
    Measurement,
    OutboxMessage,
    ProcessedEvent,
    RequestSignature,
    Workspace,
)
from storage.repositories.base import database_now, insert_ignore

FINISHED_OUTBOX_STATES = ("sent", "cancelled", "expired", "failed")


async def installed_team_ids(session: AsyncSession) -> list[str]:
    """The scheduler's "which workspaces may be worked on": installed ones."""
    rows = await session.scalars(
        select(Workspace.team_id).where(Workspace.installed.is_(True)).order_by(Workspace.team_id)
    )
    return list(rows.all())


async def known_team_ids(session: AsyncSession) -> list[str]:
    """Every workspace, for the CLI's "--team may be left out when there is only one"."""
    return list(await session.scalars(select(Workspace.team_id).order_by(Workspace.team_id)))


async def team_for_token_hash(session: AsyncSession, token_hash: str) -> str | None:
    """The workspace a presented API token belongs to: the token is the only scope."""
    team_id: str | None = await session.scalar(
        select(ApiToken.team_id).where(
            ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None)
        )
    )
    return team_id


# Slack requests: a signature is not bound to a workspace until its body is trusted ------


async def first_signature(session: AsyncSession, signature: str, signed_at: datetime) -> bool:
    """Remember an admitted request's signature; False when it was seen before (a replay)."""
    return await insert_ignore(
        session, RequestSignature, {"signature": signature, "signed_at": signed_at}, ["signature"]
    )


# Retention: the same age limit for every workspace, so one sweep each ----------------------


async def _delete(session: AsyncSession, statement: Any) -> int:
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


async def prune_signatures(session: AsyncSession, before: datetime) -> int:
    """Signatures whose timestamp is past Slack's window can no longer be replayed."""
    return await _delete(
        session, delete(RequestSignature).where(RequestSignature.signed_at < before)
    )


async def prune_processed_events(session: AsyncSession, before: datetime) -> int:
    """Event ids older than Slack's retries (which stop after minutes)."""
    return await _delete(session, delete(ProcessedEvent).where(ProcessedEvent.received_at < before))


async def prune_finished_outbox(session: AsyncSession, before: datetime) -> int:
    """Outbox rows that are done with (sent, cancelled, expired, failed) and old."""
    return await _delete(
        session,
        delete(OutboxMessage).where(
            OutboxMessage.state.in_(FINISHED_OUTBOX_STATES), OutboxMessage.created_at < before
        ),
    )


async def prune_measurements(session: AsyncSession, before: datetime) -> int:
    """KPI measurements older than the operator's retention."""
    return await _delete(session, delete(Measurement).where(Measurement.at < before))


# Uninstalled workspaces ---------------------------------------------------------------------


async def uninstalled_before(session: AsyncSession, cutoff: datetime) -> list[str]:
    """Workspaces uninstalled (and not reinstalled) since before `cutoff`: due for erasing."""
    rows = await session.scalars(
        select(Workspace.team_id)
        .where(Workspace.installed.is_(False), Workspace.uninstalled_at < cutoff)
        .order_by(Workspace.team_id)
    )
    return list(rows.all())


# slack_sdk's OAuth tables ----------------------------------------------------------------

SLACK_TOKEN_COLUMNS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")


def _oauth_tables() -> list[Table]:
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore

    metadata = MetaData()
    return [
        SQLAlchemyInstallationStore.build_installations_table(metadata, "slack_installations"),
        SQLAlchemyInstallationStore.build_bots_table(metadata, "slack_bots"),
    ]


async def rewrite_slack_tokens(
    session: AsyncSession, change: Callable[[str | None], str | None]
) -> int:
    """Pass every stored Slack token through `change` (re-encryption after a key
    rotation: every install of every workspace); returns how many rows changed."""
    changed_rows = 0
    for table in _oauth_tables():
        columns = [table.c[name] for name in SLACK_TOKEN_COLUMNS if name in table.c]
        rows = await session.execute(select(table.c.id, *columns))
        for row in rows.mappings():
            values = {c.name: change(row[c.name]) for c in columns}
            changed = {name: value for name, value in values.items() if value != row[name]}
            if changed:
                await session.execute(update(table).where(table.c.id == row["id"]).values(changed))
                changed_rows += 1
    return changed_rows


async def teams_with_due_messages(
    session: AsyncSession, now: datetime, lease: timedelta
) -> list[str]:
    """The delivery sweep's "who has something to send now": installed workspaces with an
    outbox row due, or held by a sender whose lease ran out (one indexed query)."""
    rows = await session.scalars(
        select(OutboxMessage.team_id)
        .join(Workspace, Workspace.team_id == OutboxMessage.team_id)
        .where(
            Workspace.installed.is_(True),
            or_(
                and_(OutboxMessage.state == "pending", OutboxMessage.due_at <= now),
                and_(
                    OutboxMessage.state == "sending",
                    OutboxMessage.claimed_at < database_now(session, lease),
                ),
            ),
        )
        .distinct()
    )
    return sorted(rows.all())


@dataclass(frozen=True)
class Backlog:
    """Outbox rows still to send, across workspaces, for /metrics."""

    by_kind: dict[str, int]
    oldest_due_at: datetime | None


async def outbox_backlog(session: AsyncSession, now: datetime) -> Backlog:
    """Rows due (pending or being sent) by kind, and the oldest due time among them."""
    rows = await session.execute(
        select(OutboxMessage.kind, func.count(), func.min(OutboxMessage.due_at))
        .where(OutboxMessage.state.in_(("pending", "sending")), OutboxMessage.due_at <= now)
        .group_by(OutboxMessage.kind)
    )
    by_kind: dict[str, int] = {}
    oldest: datetime | None = None
    for kind, count, due_at in rows.all():
        by_kind[kind] = int(count)
        if due_at is not None and (oldest is None or due_at < oldest):
            oldest = due_at
    return Backlog(by_kind, oldest)
