"""The few queries that span workspaces, each named for why it must.

Everything else goes through a team-bound repository.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ApiToken, Workspace


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
