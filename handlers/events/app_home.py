"""App Home: each person sees the objectives and key results they are part of."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.status import render_home
from bot.core.grammar import UserRef
from bot.okrs.commands import Status
from handlers.deps import Deps
from handlers.listening import guarded


def register(app: AsyncApp, deps: Deps) -> None:
    async def on_home_opened(
        body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient
    ) -> None:
        if event.get("tab", "home") != "home":
            return
        user_id = event["user"]
        report = await deps.status.report(
            body["team_id"], None, Status("user", user=UserRef(user_id=user_id)), deps.clock()
        )
        await client.views_publish(user_id=user_id, view=render_home(report))

    app.event("app_home_opened")(guarded(on_home_opened))
