"""Workspace lifecycle: what happens when okrbot is removed from a team."""

from __future__ import annotations

import logging

from bot.runtime.services import Services
from storage.repository import Repository

log = logging.getLogger(__name__)


async def uninstall(services: Services, team_id: str) -> None:
    """Stop acting in the workspace; its OKR data is kept for a reinstall."""
    async with services.db.session() as session:
        await Repository(session, team_id).mark_uninstalled()
    store = services.clients.installation_store
    if store is not None:
        await store.async_delete_all(enterprise_id=None, team_id=team_id)
    log.info("workspace uninstalled", extra={"team_id": team_id})
