"""Web API clients: base URL from settings, 429/5xx/connection retries built in."""

from __future__ import annotations

import aiohttp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.runtime.config import Settings


def make_client(
    settings: Settings, token: str | None, session: aiohttp.ClientSession | None = None
) -> AsyncWebClient:
    """A client that honours Retry-After and retries transient server errors.

    Given a `session`, calls reuse its pooled connections instead of opening one each.
    """
    return AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=30,
        session=session,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=5),
            AsyncServerErrorRetryHandler(max_retry_count=3),
        ],
    )
