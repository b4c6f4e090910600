"""Buttons on the App Home tab: Update (one key result), Update all, Out this week,
Show more, How to start (a newcomer's steps), and the admins' Edit settings."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.checkins import checkin_modal
from bot.blocks.common import render_error
from bot.blocks.home import (
    ACTION_HOME_GET_STARTED,
    ACTION_HOME_MORE,
    ACTION_HOME_SETTINGS,
    ACTION_HOME_SKIP,
    ACTION_HOME_UPDATE,
    ACTION_HOME_UPDATE_ALL,
    get_started_modal,
    settings_modal,
)
from bot.core.errors import UserError
from handlers.deps import Deps


def register(app: AsyncApp, deps: Deps) -> None:
    async def update_one(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        await open_checkin(deps, body, client, [int(action["value"])])

    async def update_all(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        team_id, user_id = body["team"]["id"], body["user"]["id"]
        home = await deps.home.service.view(team_id, user_id, deps.clock())
        await open_checkin(deps, body, client, [kr.number for kr in home.due] or None)

    async def skip(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        team_id, user_id = body["team"]["id"], body["user"]["id"]
        try:
            said = await deps.cycle.skip_current_period(team_id, user_id, deps.clock())
        except UserError as exc:
            said = render_error(exc)
        await deps.home.publish(team_id, user_id, client)
        await client.chat_postMessage(channel=user_id, text=said)

    async def more(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        team_id, user_id = body["team"]["id"], body["user"]["id"]
        deps.home.show_more(team_id, user_id, str(action.get("value")))
        await deps.home.publish(team_id, user_id, client)

    async def edit_settings(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        team_id, user_id = body["team"]["id"], body["user"]["id"]
        home = await deps.home.service.view(team_id, user_id, deps.clock())
        if home.settings is None:  # no longer an admin since the tab was published
            await deps.home.publish(team_id, user_id, client)
            return
        await client.views_open(trigger_id=body["trigger_id"], view=settings_modal(home.settings))

    app.action(re.compile(rf"^{ACTION_HOME_UPDATE}:\d+$"))(update_one)
    app.action(ACTION_HOME_UPDATE_ALL)(update_all)
    app.action(ACTION_HOME_SKIP)(skip)
    app.action(re.compile(rf"^{ACTION_HOME_MORE}:\w+$"))(more)

    async def get_started(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=get_started_modal())

    app.action(ACTION_HOME_SETTINGS)(edit_settings)
    app.action(ACTION_HOME_GET_STARTED)(get_started)


async def open_checkin(
    deps: Deps,
    body: dict[str, Any],
    client: AsyncWebClient,
    numbers: list[int] | None,
    *,
    note: str | None = None,
) -> None:
    """The check-in modal for these key results (all the caller's when None), counted for
    the open prompt if there is one; errors go to the person's DM with okrbot."""
    from bot.blocks.home import with_note

    team_id, user_id = body["team"]["id"], body["user"]["id"]
    try:
        lines = await deps.checkins.lines_for(team_id, user_id, numbers)
    except UserError as exc:
        await client.chat_postMessage(channel=user_id, text=render_error(exc))
        return
    prompt = await deps.cycle.open_prompt(team_id, user_id, deps.clock())
    metadata = {"prompt": prompt.id if prompt else None, "krs": [line.number for line in lines]}
    view = checkin_modal(lines, metadata)
    if note:
        view = with_note(view, note)
    await client.views_open(trigger_id=body["trigger_id"], view=view)
