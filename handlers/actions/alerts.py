"""Acknowledge and Snooze buttons on KPI alert messages."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.alerts import ACTION_ACK, ACTION_SNOOZE
from handlers.deps import Deps
from handlers.listening import guarded


def register(app: AsyncApp, deps: Deps) -> None:
    async def acknowledge(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        await deps.alerts.acknowledge(
            body["team"]["id"], int(action["value"]), body["user"]["id"], deps.clock()
        )

    async def snooze(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        alert_id, seconds = (int(part) for part in action["value"].split(":", 1))
        await deps.alerts.snooze(
            body["team"]["id"], alert_id, body["user"]["id"], seconds, deps.clock()
        )

    app.action(ACTION_ACK)(guarded(acknowledge))
    app.action(re.compile(rf"^{ACTION_SNOOZE}:\d+$"))(guarded(snooze))
