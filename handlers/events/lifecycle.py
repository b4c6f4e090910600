"""Install lifecycle: forget a workspace's tokens when Slack says they are gone."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from handlers.deps import Deps


def register(app: AsyncApp, deps: Deps) -> None:
    async def on_uninstalled(body: dict[str, Any]) -> None:
        await deps.workspaces.uninstall(body["team_id"], deps.clock())

    async def on_tokens_revoked(body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("tokens", {}).get("bot"):
            await deps.workspaces.uninstall(body["team_id"], deps.clock())

    app.event("app_uninstalled")(on_uninstalled)
    app.event("tokens_revoked")(on_tokens_revoked)
