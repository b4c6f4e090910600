"""Shortcuts: "Check in on my KRs" (global; Slack caps names at 24 characters) opens the
check-in modal from anywhere; "Add as check-in note" (on a message) opens it with the
message's text and link as the note."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.home import note_from_message
from handlers.actions.home import open_checkin
from handlers.deps import Deps

SHORTCUT_CHECKIN = "checkin_shortcut"
SHORTCUT_NOTE = "checkin_note_shortcut"


def register(app: AsyncApp, deps: Deps) -> None:
    async def checkin(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await open_checkin(deps, body, client, None)

    async def as_note(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id")
        permalink = None
        if channel and message.get("ts"):
            try:
                found = await client.chat_getPermalink(channel=channel, message_ts=message["ts"])
                permalink = found.get("permalink")
            except SlackApiError:
                permalink = None  # a channel okrbot cannot read: the text alone still helps
        note = note_from_message(str(message.get("text") or ""), permalink)
        await open_checkin(deps, body, client, None, note=note)

    app.shortcut(SHORTCUT_CHECKIN)(checkin)
    app.shortcut(SHORTCUT_NOTE)(as_note)
