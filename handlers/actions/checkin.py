"""Buttons on the check-in DM: Update (one key result), Update all, Out this week."""

from __future__ import annotations

import json
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.checkins import (
    ACTION_OPEN_ALL,
    ACTION_OPEN_ONE,
    ACTION_SKIP,
    checkin_modal,
    render_prompt,
)
from bot.checkins.cycle import lines_for, prompt_view, skip_prompt
from bot.core.errors import UserError
from bot.runtime.services import Services


def register(app: AsyncApp, services: Services) -> None:
    async def open_one(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        value = json.loads(action["value"])
        await _open_modal(services, body, client, int(value["prompt"]), [int(value["kr"])])

    async def open_all(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        prompt_id = int(action["value"])
        view = await prompt_view(services, body["team"]["id"], prompt_id)
        pending = [kr.number for kr in view.key_results if not kr.recorded] if view else []
        await _open_modal(services, body, client, prompt_id, pending or None)

    async def skip(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        team_id, user_id = body["team"]["id"], body["user"]["id"]
        prompt_id = int(action["value"])
        try:
            await skip_prompt(services, team_id, user_id, prompt_id, services.clock())
        except UserError as exc:
            await client.chat_postEphemeral(
                channel=body["channel"]["id"], user=user_id, text=exc.render()
            )
            return
        await refresh_prompt_message(services, client, team_id, prompt_id, body)

    app.action(re.compile(rf"^{ACTION_OPEN_ONE}:\d+$"))(open_one)
    app.action(ACTION_OPEN_ALL)(open_all)
    app.action(ACTION_SKIP)(skip)


async def _open_modal(
    services: Services,
    body: dict[str, Any],
    client: AsyncWebClient,
    prompt_id: int | None,
    numbers: list[int] | None,
) -> None:
    team_id, user_id = body["team"]["id"], body["user"]["id"]
    try:
        lines = await lines_for(services, team_id, user_id, numbers)
    except UserError as exc:
        channel = (body.get("channel") or {}).get("id")
        if channel:
            await client.chat_postEphemeral(channel=channel, user=user_id, text=exc.render())
        return
    metadata = {
        "prompt": prompt_id,
        "krs": [line.number for line in lines],
        "channel": (body.get("channel") or {}).get("id"),
        "ts": (body.get("message") or {}).get("ts"),
    }
    await client.views_open(trigger_id=body["trigger_id"], view=checkin_modal(lines, metadata))


async def refresh_prompt_message(
    services: Services,
    client: AsyncWebClient,
    team_id: str,
    prompt_id: int,
    body: dict[str, Any] | None = None,
    channel: str | None = None,
    ts: str | None = None,
) -> None:
    """Show on the prompt DM what was recorded (or that the week was skipped)."""
    if body is not None:
        channel = channel or (body.get("channel") or {}).get("id")
        ts = ts or (body.get("message") or {}).get("ts")
    view = await prompt_view(services, team_id, prompt_id)
    if view is None or not channel or not ts:
        return
    message = render_prompt(view)
    await client.chat_update(channel=channel, ts=ts, text=message.text, blocks=message.blocks)
