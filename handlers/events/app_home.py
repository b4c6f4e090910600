"""App Home: each person's Due now, key results, objectives, alerts (and settings for
admins), published when they open it and again, debounced, after changes that touch them."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from handlers.deps import Deps
from handlers.listening import guarded

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def register(app: AsyncApp, deps: Deps) -> None:
    async def on_home_opened(
        body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient
    ) -> None:
        if event.get("tab", "home") != "home":
            return
        await deps.home.publish(body["team_id"], event["user"], client)

    async def touch_viewers(body: dict[str, Any], context: AsyncBoltContext, next: Any) -> None:
        """Whoever acts (a command, a button, a modal, a DM), and whoever a command names,
        sees their Home re-published shortly after (debounced; only if they opened it)."""
        await next()
        team_id = context.team_id
        if team_id and context.user_id:
            named = _MENTION.findall(str(body.get("text") or ""))
            deps.home.touch(team_id, [context.user_id, *named])

    app.event("app_home_opened")(guarded(on_home_opened))
    app.middleware(touch_viewers)
