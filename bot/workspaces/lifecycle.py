"""Workspace lifecycle: what happens when okrbot is removed from a team."""

from __future__ import annotations

import logging

from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore

from storage.db import Database

log = logging.getLogger(__name__)


class Workspaces:
    def __init__(
        self, db: Database, installation_store: AsyncSQLAlchemyInstallationStore | None
    ) -> None:
        self._db = db
        self._installation_store = installation_store

    async def uninstall(self, team_id: str) -> None:
        """Stop acting in the workspace; its OKR data is kept for a reinstall."""
        async with self._db.team(team_id) as store:
            await store.workspace.set_installed(False)
        if self._installation_store is not None:
            await self._installation_store.async_delete_all(enterprise_id=None, team_id=team_id)
        log.info("workspace uninstalled", extra={"team_id": team_id})
