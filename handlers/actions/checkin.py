"""Buttons on the check-in DM: Update and No change (one key result), Update all, Out
this week."""

from __future__ import annotations

import json
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.checkins import (
    ACTION_NO_CHANGE,
    ACTION_OPEN_ALL,
    ACTION_OPEN_ONE,
    ACTION_SKIP,
    checkin_modal,
    render_recorded,
)
from bot.blocks.common import render_error
from bot.core.errors import UserError
from handlers.deps import Deps
from handlers.listening import guarded


def register(app: AsyncApp, deps: Deps) -> None:
    async def open_one(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        value = json.loads(action["value"])
        await _open_modal(deps, body, client, int(value["prompt"]), [int(value["kr"])])

    async def open_all(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        prompt_id = int(action["value"])
        view = await deps.cycle.prompt_view(body["team"]["id"], body["user"]["id"], prompt_id)
        pending = [kr.number for kr in view.key_results if not kr.recorded] if view else []
        await _open_modal(deps, body, client, prompt_id, pending or None)

    async def no_change(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        team_id, user_id = body["team"]["id"], body["user"]["id"]
        value = json.loads(action["value"])
        channel = (body.get("channel") or {}).get("id") or user_id
        try:
            recorded = await deps.checkins.record_no_change(
                team_id, user_id, [int(value["kr"])], "button", deps.clock(), int(value["prompt"])
            )
        except UserError as exc:
            await client.chat_postEphemeral(channel=channel, user=user_id, text=render_error(exc))
            return
        await client.chat_postEphemeral(
            channel=channel, user=user_id, text=render_recorded(recorded)
        )
        await deps.cycle.after_check_in(
            client, team_id, user_id, [item.key_result_number for item in recorded]
        )

    async def skip(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        team_id, user_id = body["team"]["id"], body["user"]["id"]
        prompt_id = int(action["value"])
        try:
            await deps.cycle.skip_prompt(team_id, user_id, prompt_id, deps.clock())
        except UserError as exc:
            await client.chat_postEphemeral(
                channel=body["channel"]["id"], user=user_id, text=render_error(exc)
            )
            return
        await deps.cycle.refresh_prompt(client, team_id, user_id, prompt_id)

    app.action(re.compile(rf"^{ACTION_OPEN_ONE}:\d+$"))(guarded(open_one))
    app.action(re.compile(rf"^{ACTION_NO_CHANGE}:\d+$"))(guarded(no_change))
    app.action(ACTION_OPEN_ALL)(guarded(open_all))
    app.action(ACTION_SKIP)(guarded(skip))


async def _open_modal(
    deps: Deps,
    body: dict[str, Any],
    client: AsyncWebClient,
    prompt_id: int | None,
    numbers: list[int] | None,
) -> None:
    team_id, user_id = body["team"]["id"], body["user"]["id"]
    try:
        lines = await deps.checkins.lines_for(team_id, user_id, numbers)
    except UserError as exc:
        channel = (body.get("channel") or {}).get("id")
        if channel:
            await client.chat_postEphemeral(channel=channel, user=user_id, text=render_error(exc))
        return
    metadata = {"prompt": prompt_id, "krs": [line.number for line in lines]}
    await client.views_open(trigger_id=body["trigger_id"], view=checkin_modal(lines, metadata))
