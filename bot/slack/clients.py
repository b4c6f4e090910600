"""Web API clients: one per workspace token, sharing a pooled HTTP session, with retries."""

from __future__ import annotations

import aiohttp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.web.async_client import AsyncWebClient


class NoInstallation(Exception):
    """No bot token is known for a workspace (not installed, or uninstalled)."""


def make_client(
    api_url: str, token: str | None, session: aiohttp.ClientSession | None = None
) -> AsyncWebClient:
    """A client that honours Retry-After and retries transient server errors.

    Given a `session`, calls reuse its pooled connections instead of opening one each.
    """
    return AsyncWebClient(
        token=token,
        base_url=api_url,
        timeout=30,
        session=session,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=5),
            AsyncServerErrorRetryHandler(max_retry_count=3),
        ],
    )


class SlackClients:
    """Hands out the Web API client that acts in a workspace (its own token under OAuth)."""

    def __init__(
        self,
        api_url: str,
        bot_token: str | None,
        installation_store: AsyncSQLAlchemyInstallationStore | None,
    ) -> None:
        self._api_url = api_url
        self._bot_token = bot_token
        self.installation_store = installation_store
        self._by_token: dict[str | None, AsyncWebClient] = {}
        self._session: aiohttp.ClientSession | None = None

    async def for_team(self, team_id: str) -> AsyncWebClient:
        token = self._bot_token
        if self.installation_store is not None:
            found = await self.installation_store.async_find_bot(
                enterprise_id=None, team_id=team_id
            )
            if found is not None and found.bot_token:
                token = found.bot_token
        if token is None:
            raise NoInstallation(f"okrbot is not installed in workspace {team_id}")
        if token not in self._by_token:
            if self._session is None:  # created inside the running loop, on first use
                self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
            self._by_token[token] = make_client(self._api_url, token, self._session)
        return self._by_token[token]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._by_token.clear()
