"""Web API clients: one per workspace token, sharing a pooled HTTP session and the
process's `Pacer`, with retries for dropped connections, 5xx answers and 429s."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import aiohttp
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.slack.pacer import Pacer

# Seconds one Web API call may take. Kept well inside the outbox's lease, so a post
# that began while its claim was fresh has ended before anyone may take the row over.
CALL_TIMEOUT = 8
RATE_LIMIT_RETRIES = 3  # in the call; the outbox keeps retrying a row until its deadline


class NoInstallation(Exception):
    """No bot token is known for a workspace (not installed, or uninstalled)."""


def retry_after(response: HttpResponse) -> float:
    """Slack's Retry-After in seconds (1 when it is missing or garbled)."""
    for name, values in response.headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(values[0] if isinstance(values, list) else values))
            except (TypeError, ValueError, IndexError):
                break
    return 1.0


def _method_of(request: HttpRequest) -> str:
    return urlparse(request.url).path.rsplit("/", 1)[-1]


class PacedRateLimitRetryHandler(AsyncRetryHandler):
    """On a 429, pause the team's method in the shared pacer for Retry-After (everyone
    waits, not just this caller), then retry once the pacer lets the call go."""

    def __init__(self, pacer: Pacer, team_id: str, max_retry_count: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._pacer = pacer
        self._team_id = team_id

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code == 429

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        assert response is not None
        method = _method_of(request)
        self._pacer.pause(self._team_id, method, retry_after(response))
        state.next_attempt_requested = True
        state.increment_current_attempt()
        body = request.body_params or {}
        await self._pacer.wait(self._team_id, method, body.get("channel"))


class PacedWebClient(AsyncWebClient):
    """An AsyncWebClient whose every call first waits for the workspace's budget."""

    def __init__(self, *, pacer: Pacer, team_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pacer = pacer
        self._team_id = team_id

    async def api_call(  # type: ignore[override]
        self, api_method: str, **kwargs: Any
    ) -> AsyncSlackResponse:
        body = kwargs.get("json") or kwargs.get("data") or kwargs.get("params") or {}
        channel = body.get("channel") if isinstance(body, dict) else None
        if not self._pacer.take_prepaid():
            await self._pacer.wait(self._team_id, api_method, channel)
        return await super().api_call(api_method, **kwargs)


def _retry_handlers(rate_limit: AsyncRetryHandler) -> list[AsyncRetryHandler]:
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        rate_limit,
        AsyncServerErrorRetryHandler(max_retry_count=3),
    ]


def make_client(
    api_url: str, token: str | None, session: aiohttp.ClientSession | None = None
) -> AsyncWebClient:
    """A plain client (Bolt's): honours Retry-After and retries transient server errors.

    Given a `session`, calls reuse its pooled connections instead of opening one each.
    """
    from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler

    return AsyncWebClient(
        token=token,
        base_url=api_url,
        timeout=CALL_TIMEOUT,
        session=session,
        retry_handlers=_retry_handlers(AsyncRateLimitErrorRetryHandler(max_retry_count=2)),
    )


class SlackClients:
    """Hands out the Web API client that acts in a workspace (its own token under OAuth),
    paced by the process's shared budget for that workspace."""

    def __init__(
        self,
        api_url: str,
        bot_token: str | None,
        installation_store: AsyncSQLAlchemyInstallationStore | None,
        pacer: Pacer | None = None,
    ) -> None:
        self._api_url = api_url
        self._bot_token = bot_token
        self.installation_store = installation_store
        self.pacer = pacer or Pacer()
        self._by_token: dict[tuple[str, str], AsyncWebClient] = {}
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
        key = (token, team_id)
        if key not in self._by_token:
            if self._session is None:  # created inside the running loop, on first use
                self._session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=100),
                    timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT),
                )
            self._by_token[key] = PacedWebClient(
                pacer=self.pacer,
                team_id=team_id,
                token=token,
                base_url=self._api_url,
                timeout=CALL_TIMEOUT,
                session=self._session,
                retry_handlers=_retry_handlers(
                    PacedRateLimitRetryHandler(self.pacer, team_id, RATE_LIMIT_RETRIES)
                ),
            )
        return self._by_token[key]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._by_token.clear()
