"""The digest's "Add a key result" button on a candidate improvement goal: opens the
prefilled "new key result that follows this KPI" modal."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.common import render_error
from bot.blocks.goals import ACTION_KPI_GOAL, kpi_goal_modal
from bot.core.actor import Actor
from bot.core.errors import UserError
from bot.kpis.commands import KPI_KEY
from handlers.deps import Deps
from handlers.listening import guarded


def register(app: AsyncApp, deps: Deps) -> None:
    async def open_goal(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        channel = (body.get("channel") or {}).get("id")
        actor = Actor(body["team"]["id"], body["user"]["id"], channel)
        key = str(action.get("value", ""))
        try:
            if not KPI_KEY.match(key):
                raise UserError("That button is not one okrbot sent, so nothing was opened.")
            draft = await deps.okrs.kpi_goal_draft(actor, key)
        except UserError as exc:
            if channel:
                await client.chat_postEphemeral(
                    channel=channel, user=actor.user_id, text=render_error(exc)
                )
            return
        await client.views_open(trigger_id=body["trigger_id"], view=kpi_goal_modal(draft))

    app.action(ACTION_KPI_GOAL)(guarded(open_goal))
