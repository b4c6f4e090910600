"""Where OAuth installs keep their Slack tokens: slack_sdk's SQLAlchemy store, with the
tokens encrypted at rest (when `OKRBOT_SECRET_KEY` is set) and a hook after each install.

Only the token columns are encrypted; ids and scopes stay readable, so the store's
own queries (by team, newest first) work unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore

from bot.core.secrets import TokenCipher
from storage.db import Database
from storage.repositories.fleet import SLACK_TOKEN_COLUMNS, rewrite_slack_tokens

TOKEN_FIELDS = SLACK_TOKEN_COLUMNS
T = TypeVar("T", Bot, Installation)


class InstallationStore(AsyncSQLAlchemyInstallationStore):
    def __init__(self, client_id: str, db: Database, cipher: TokenCipher | None) -> None:
        super().__init__(client_id=client_id, engine=db.engine)
        self._cipher = cipher
        # Set by the composition root: a successful install marks the workspace installed.
        self.on_install: Callable[[str], Awaitable[None]] | None = None

    def _sealed(self, record: T) -> T:
        if self._cipher is None:
            return record
        sealed = copy.copy(record)
        for name in TOKEN_FIELDS:
            if hasattr(sealed, name):
                setattr(sealed, name, self._cipher.encrypt(getattr(sealed, name)))
        return sealed

    def _opened(self, record: T | None) -> T | None:
        if record is not None and self._cipher is not None:
            for name in TOKEN_FIELDS:
                if hasattr(record, name):
                    setattr(record, name, self._cipher.decrypt(getattr(record, name)))
        return record

    async def async_save(self, installation: Installation) -> None:
        await super().async_save(self._sealed(installation))
        if self.on_install is not None and installation.team_id:
            await self.on_install(installation.team_id)

    async def async_save_bot(self, bot: Bot) -> None:
        await super().async_save_bot(self._sealed(bot))

    async def async_find_bot(self, **kwargs: Any) -> Bot | None:
        return self._opened(await super().async_find_bot(**kwargs))

    async def async_find_installation(self, **kwargs: Any) -> Installation | None:
        return self._opened(await super().async_find_installation(**kwargs))


async def reencrypt_tokens(db: Database, cipher: TokenCipher) -> int:
    """Encrypt every stored Slack token with the newest key (plain ones too); returns
    how many install rows changed. Run after putting a new key first."""
    async with db.session() as session:
        return await rewrite_slack_tokens(session, cipher.rotate)
