"""The Bolt app: built from Services, with every listener registered explicitly."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.middleware.authorization.async_single_team_authorization import (
    AsyncSingleTeamAuthorization,
)
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore

from bot.runtime.services import Services
from bot.slack.clients import make_client
from handlers.listening import apologise
from storage.db import DatabaseUnavailable

log = logging.getLogger(__name__)

# What okrbot uses of Slack; app_manifest.yml must match (a test checks it).
SLASH_COMMANDS = ("/okr", "/kpi")
BOT_EVENTS = ("app_home_opened", "app_uninstalled", "message.im", "tokens_revoked")
# Shortcuts (callback_id → type); app_manifest.yml must list the same.
SHORTCUTS = {"checkin_shortcut": "global", "checkin_note_shortcut": "message"}
BOT_SCOPES = (
    "channels:read",  # conversations.info / conversations.list: resolve #channel mentions
    "chat:write",  # prompts, digests, alerts, confirmations
    "chat:write.public",  # digests and alerts in public channels okrbot was not invited to
    "commands",  # /okr and /kpi
    "files:write",  # KPI alert charts via files_upload_v2
    "groups:read",  # private channels in #channel mentions
    "im:history",  # message.im: free-text check-in replies; reconciling sent prompts
    "im:write",  # conversations.open for check-in DMs
    "users:read",  # users.info (time zone, admin) and users.list (@name mentions)
    "users:read.email",  # users.lookupByEmail: owners given by email in `okrbot import`
)


def create_app(services: Services) -> AsyncApp:
    """An AsyncApp for HTTP or Socket Mode; OAuth installs when client id/secret are set."""
    settings = services.settings
    kwargs: dict[str, Any] = {
        "signing_secret": settings.slack_signing_secret or "",
        "process_before_response": False,
        "logger": logging.getLogger("okrbot.bolt"),
    }
    store = services.clients.installation_store
    if store is not None:
        assert settings.slack_client_id and settings.slack_client_secret
        kwargs["client"] = make_client(settings.slack_api_url, None)
        kwargs["oauth_settings"] = AsyncOAuthSettings(
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret,
            scopes=list(BOT_SCOPES),
            installation_store=store,
            state_store=AsyncSQLAlchemyOAuthStateStore(
                expiration_seconds=600, engine=services.db.engine
            ),
        )
    else:
        kwargs["client"] = make_client(settings.slack_api_url, settings.slack_bot_token)
    if settings.socket_mode:
        kwargs["signing_secret"] = None
        kwargs["request_verification_enabled"] = False  # Socket Mode has no HTTP to sign
    app = AsyncApp(**kwargs)
    app.middleware(_deduplicate_events(services))
    app.middleware(_note_installed(services))
    app.error(apologise)
    _register_listeners(app, services)
    # Events okrbot does not handle (another subscription, a new type) are acknowledged:
    # Slack retries anything but a 2xx. Registered last, so it matches only the rest.
    app.event(re.compile(".*"))(_ignore_event)
    return app


WARM_UP_TIMEOUT = 5.0  # seconds: a Slack that slow is asked again by the first request


async def warm_up(app: AsyncApp) -> None:
    """With one bot token, Bolt asks Slack `auth.test` on the first request and keeps the
    answer; ask it before serving instead, so that request's ack does not wait on Slack
    (with Slack slow, that call alone can take most of the 3 s). Bolt has no public way
    to hand it the answer, hence its middleware's attribute. Best effort: on failure the
    first request asks, as before."""
    for middleware in app._async_middleware_list:  # noqa: SLF001 - see the docstring
        if isinstance(middleware, AsyncSingleTeamAuthorization):
            try:
                async with asyncio.timeout(WARM_UP_TIMEOUT):
                    middleware.auth_test_result = await app.client.auth_test()
            except Exception as exc:
                log.warning("auth.test before serving failed: %s", type(exc).__name__)


async def _ignore_event() -> None:
    return None


# Events that come from a workspace removing okrbot: they must not mark it installed.
_REMOVAL_EVENTS = {"app_uninstalled", "tokens_revoked"}


def _note_installed(services: Services) -> Any:
    """A signed request from a workspace marked uninstalled means okrbot is back there
    (a reinstall whose OAuth callback we did not see, e.g. a single-workspace token)."""

    async def middleware(
        body: dict[str, Any], context: AsyncBoltContext, next: Any
    ) -> BoltResponse | None:
        event = body.get("event")
        kind = event.get("type") if isinstance(event, dict) else None
        if context.team_id and kind not in _REMOVAL_EVENTS:
            try:
                await services.workspaces.installed(context.team_id, services.clock())
            except DatabaseUnavailable:  # noted on a later request; the handler answers now
                log.warning("install mark skipped: the database is unreachable")
        await next()
        return None

    return middleware


def _deduplicate_events(services: Services) -> Any:
    """Ignore a delivery whose event_id was already handled (Slack retries)."""

    async def middleware(
        body: dict[str, Any], context: AsyncBoltContext, next: Any
    ) -> BoltResponse | None:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id:
            try:
                async with services.db.team(str(body.get("team_id") or "")) as store:
                    fresh = await store.workspace.first_delivery(str(event_id), services.clock())
            except DatabaseUnavailable:
                # Not acknowledged, so Slack retries it (same event_id) once we can store it.
                log.warning("event deferred: the database is unreachable")
                return BoltResponse(status=503, body="")
            if not fresh:
                services.metrics.duplicate_events.inc()
                log.info("duplicate event ignored", extra={"event_id": event_id})
                return BoltResponse(status=200, body="")
        await next()
        return None

    return middleware


def _register_listeners(app: AsyncApp, services: Services) -> None:
    from handlers.actions import alerts as alert_actions
    from handlers.actions import checkin as checkin_actions
    from handlers.actions import home as home_actions
    from handlers.actions import kpi_goals as kpi_goal_actions
    from handlers.actions import shortcuts
    from handlers.commands import kpi, okr
    from handlers.events import app_home, lifecycle, messages
    from handlers.views import checkin as checkin_views
    from handlers.views import home as home_views
    from handlers.views import kpi_goals as kpi_goal_views

    modules = (okr, kpi, app_home, lifecycle, messages, checkin_actions, checkin_views)
    goals = (kpi_goal_actions, kpi_goal_views)
    for module in (*modules, alert_actions, home_actions, home_views, shortcuts, *goals):
        module.register(app, services)
