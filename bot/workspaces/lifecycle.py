"""Workspace lifecycle: installed, removed (tokens revoked at once), reinstalled, and
erased once a grace period after removal has passed."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore

from storage.db import Database
from storage.repositories.fleet import uninstalled_before

log = logging.getLogger(__name__)


class Workspaces:
    def __init__(
        self,
        db: Database,
        installation_store: AsyncSQLAlchemyInstallationStore | None,
        grace: timedelta = timedelta(days=30),
    ) -> None:
        self._db = db
        self._installation_store = installation_store
        self._grace = grace

    async def uninstall(self, team_id: str, now: datetime) -> None:
        """Stop acting in the workspace and revoke its API tokens; its OKR data is kept
        for a reinstall during the grace period."""
        async with self._db.team(team_id) as store:
            await store.workspace.mark_uninstalled(now)
            revoked = await store.tokens.revoke_all(now)
        if self._installation_store is not None:
            await self._installation_store.async_delete_all(enterprise_id=None, team_id=team_id)
        erase_after = (now + self._grace).date().isoformat()
        log.info(
            "workspace uninstalled",
            extra={"team_id": team_id, "revoked": revoked, "erase_after": erase_after},
        )

    async def installed(self, team_id: str, now: datetime) -> None:
        """An install (OAuth) or a signed request from the workspace: act in it again."""
        async with self._db.team(team_id) as store:
            workspace = await store.workspace.get()
            if workspace is not None and workspace.installed:
                return  # the common case: one read by primary key, no write
            await store.workspace.ensure(now)
            reinstalled = await store.workspace.mark_installed()
        if reinstalled:
            log.info("workspace reinstalled", extra={"team_id": team_id})

    async def erase_expired(self, now: datetime) -> int:
        """Erase every workspace uninstalled longer ago than the grace period."""
        cutoff = now - self._grace
        async with self._db.session() as session:
            due = await uninstalled_before(session, cutoff)
        erased = 0
        for team_id in due:
            async with self._db.team(team_id) as store:
                if not await store.workspace.erase_if_uninstalled_before(cutoff):
                    continue
            erased += 1
            log.info(
                "workspace data erased",
                extra={"team_id": team_id, "grace_days": self._grace.total_seconds() / 86400},
            )
        return erased
