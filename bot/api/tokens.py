"""API tokens: random, shown once, stored only as a SHA-256 hash, one workspace each."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select

from bot.core.errors import NotFound, UserError
from storage.db import Database
from storage.models import ApiToken
from storage.repository import ensure_workspace

PREFIX = "okr_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(db: Database, team_id: str, name: str, now: datetime) -> str:
    """A new token for `team_id`; the plain value is returned once and never stored."""
    name = name.strip()
    if not name or len(name) > 100:
        raise UserError("a token name is 1 to 100 characters, like `metrics-pipeline`")
    token = PREFIX + secrets.token_urlsafe(32)
    async with db.session() as session:
        await ensure_workspace(session, team_id, now)
        taken = await session.scalar(
            select(ApiToken.id).where(
                ApiToken.team_id == team_id, ApiToken.name == name, ApiToken.revoked_at.is_(None)
            )
        )
        if taken is not None:
            raise UserError(
                f"an active token named {name!r} exists: revoke it or pick another name"
            )
        session.add(
            ApiToken(team_id=team_id, name=name, token_hash=hash_token(token), created_at=now)
        )
    return token


async def revoke_token(db: Database, team_id: str, name: str, now: datetime) -> None:
    async with db.session() as session:
        token = await session.scalar(
            select(ApiToken).where(
                ApiToken.team_id == team_id, ApiToken.name == name, ApiToken.revoked_at.is_(None)
            )
        )
        if token is None:
            raise NotFound(f"no active token named {name!r} in workspace {team_id}")
        token.revoked_at = now


async def team_for_token(db: Database, token: str) -> str | None:
    """The workspace a presented token belongs to, or None (unknown or revoked)."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    async with db.session() as session:
        team_id: str | None = await session.scalar(
            select(ApiToken.team_id).where(
                ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)
            )
        )
        return team_id
