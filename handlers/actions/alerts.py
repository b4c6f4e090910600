"""Acknowledge and Snooze buttons on KPI alert messages."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.kpis import alerting as alerts
from bot.runtime.services import Services


def register(app: AsyncApp, services: Services) -> None:
    async def acknowledge(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await alerts.acknowledge(
            services, body["team"]["id"], int(action["value"]), body["user"]["id"]
        )

    async def snooze(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        alert_id, seconds = (int(part) for part in action["value"].split(":", 1))
        await alerts.snooze(services, body["team"]["id"], alert_id, body["user"]["id"], seconds)

    app.action(alerts.ACTION_ACK)(acknowledge)
    app.action(re.compile(rf"^{alerts.ACTION_SNOOZE}:\d+$"))(snooze)
