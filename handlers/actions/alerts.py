"""Acknowledge and Snooze buttons on KPI alert messages."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.alerts import ACTION_ACK, ACTION_SNOOZE
from bot.blocks.common import render_error
from bot.core.actor import Actor
from bot.core.errors import UserError
from handlers.deps import Deps
from handlers.listening import guarded

_ACK_VALUE = re.compile(r"^[0-9]{1,9}$")
_SNOOZE_VALUE = re.compile(r"^([0-9]{1,9}):([0-9]{1,7})$")
# A value okrbot never renders (a forged or damaged button): nothing changes.
_FOREIGN_BUTTON = UserError("That button is not one okrbot sent, so nothing was changed.")


def _actor(body: dict[str, Any]) -> Actor:
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    return Actor(body["team"]["id"], body["user"]["id"], channel)


async def _refuse(client: AsyncWebClient, actor: Actor, error: UserError) -> None:
    """Tell the person who clicked, and no one else, why nothing happened."""
    if actor.channel_id:
        await client.chat_postEphemeral(
            channel=actor.channel_id, user=actor.user_id, text=render_error(error)
        )


def register(app: AsyncApp, deps: Deps) -> None:
    async def acknowledge(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        value = str(action.get("value", ""))
        actor = _actor(body)
        if not _ACK_VALUE.match(value):
            await _refuse(client, actor, _FOREIGN_BUTTON)
            return
        try:
            await deps.alerts.acknowledge(actor, int(value), deps.clock())
        except UserError as exc:
            await _refuse(client, actor, exc)

    async def snooze(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        match = _SNOOZE_VALUE.match(str(action.get("value", "")))
        actor = _actor(body)
        if match is None:
            await _refuse(client, actor, _FOREIGN_BUTTON)
            return
        try:
            await deps.alerts.snooze(actor, int(match[1]), int(match[2]), deps.clock())
        except UserError as exc:
            await _refuse(client, actor, exc)

    app.action(ACTION_ACK)(guarded(acknowledge))
    app.action(re.compile(rf"^{ACTION_SNOOZE}:\d+$"))(guarded(snooze))
