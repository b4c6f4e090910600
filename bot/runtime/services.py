"""The composition root: everything built once from Settings, in start-up order.

settings → storage → Slack clients → domain services. Nothing here is
module-level: tests and CLI commands build their own `Services`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.web.async_client import AsyncWebClient

from bot.checkins.recording import CheckInService
from bot.core.clock import utc_now
from bot.core.metrics import Metrics
from bot.kpis.service import KpiService
from bot.okrs.service import OkrService
from bot.runtime.config import Settings
from bot.slack.clients import make_client
from bot.slack.directory import Directory, SlackDirectory
from storage.db import Database


class NoInstallation(Exception):
    """No bot token is known for a workspace (not installed, or uninstalled)."""


class SlackClients:
    """Hands out the Web API client that acts in a workspace (its own token under OAuth)."""

    def __init__(
        self, settings: Settings, installation_store: AsyncSQLAlchemyInstallationStore | None
    ) -> None:
        self._settings = settings
        self.installation_store = installation_store
        self._by_token: dict[str | None, AsyncWebClient] = {}
        self._session: aiohttp.ClientSession | None = None

    async def for_team(self, team_id: str) -> AsyncWebClient:
        token = self._settings.slack_bot_token
        if self.installation_store is not None:
            bot = await self.installation_store.async_find_bot(enterprise_id=None, team_id=team_id)
            if bot is not None and bot.bot_token:
                token = bot.bot_token
        if token is None:
            raise NoInstallation(f"okrbot is not installed in workspace {team_id}")
        if token not in self._by_token:
            if self._session is None:  # created inside the running loop, on first use
                self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
            self._by_token[token] = make_client(self._settings, token, self._session)
        return self._by_token[token]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._by_token.clear()


@dataclass
class Services:
    settings: Settings
    db: Database
    metrics: Metrics
    clients: SlackClients
    directory: Directory
    okrs: OkrService
    checkins: CheckInService
    kpis: KpiService
    clock: Callable[[], datetime] = utc_now

    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run follow-up work (posting alerts) after a request returns; kept until done."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for spawned work: graceful shutdown and tests."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        await self.clients.close()
        await self.db.dispose()


def build_services(settings: Settings, *, clock: Callable[[], datetime] = utc_now) -> Services:
    db = Database(settings.database_url)
    store = None
    if settings.oauth_enabled:
        assert settings.slack_client_id is not None
        store = AsyncSQLAlchemyInstallationStore(
            client_id=settings.slack_client_id, engine=db.engine
        )
    clients = SlackClients(settings, store)
    directory = SlackDirectory(db, clients.for_team)
    return Services(
        settings=settings,
        db=db,
        metrics=Metrics(),
        clients=clients,
        directory=directory,
        okrs=OkrService(db, directory),
        checkins=CheckInService(db),
        kpis=KpiService(db, directory),
        clock=clock,
    )
