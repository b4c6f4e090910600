"""API tokens: random, shown once, stored only as a SHA-256 hash, one workspace each."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from bot.core.errors import NotFound, UserError
from storage.db import Database
from storage.models import ApiToken
from storage.repositories.fleet import team_for_token_hash

PREFIX = "okr_"
MAX_TOKEN_LENGTH = 200


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiTokens:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, team_id: str, name: str, now: datetime) -> str:
        """A new token for `team_id`; the plain value is returned once and never stored."""
        name = name.strip()
        if not name or len(name) > 100:
            raise UserError("a token name is 1 to 100 characters, like `metrics-pipeline`")
        token = PREFIX + secrets.token_urlsafe(32)
        async with self._db.team(team_id) as store:
            await store.workspace.ensure(now)
            if await store.tokens.active_named(name) is not None:
                raise UserError(
                    f"an active token named {name!r} exists: revoke it or pick another name"
                )
            await store.tokens.add(
                ApiToken(team_id=team_id, name=name, token_hash=hash_token(token), created_at=now)
            )
        return token

    async def revoke(self, team_id: str, name: str, now: datetime) -> None:
        async with self._db.team(team_id) as store:
            token = await store.tokens.active_named(name)
            if token is None:
                raise NotFound(f"no active token named {name!r} in workspace {team_id}")
            token.revoked_at = now

    async def team_for(self, token: str) -> str | None:
        """The workspace a presented token belongs to, or None (unknown or revoked)."""
        if not token.startswith(PREFIX) or len(token) > MAX_TOKEN_LENGTH:
            return None
        async with self._db.session() as session:
            return await team_for_token_hash(session, hash_token(token))
