"""API tokens of one workspace (stored as hashes only)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from storage.models import ApiToken
from storage.repositories.base import TeamRepository


class TokenRepository(TeamRepository):
    async def active_named(self, name: str) -> ApiToken | None:
        found: ApiToken | None = await self.session.scalar(
            select(ApiToken).where(
                ApiToken.team_id == self.team_id,
                ApiToken.name == name,
                ApiToken.revoked_at.is_(None),
            )
        )
        return found

    async def revoke_all(self, now: datetime) -> int:
        """Revoke every active token of the workspace (on uninstall); returns how many."""
        result = await self.session.execute(
            update(ApiToken)
            .where(ApiToken.team_id == self.team_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return int(getattr(result, "rowcount", 0) or 0)
