"""Free-text check-ins: a DM to okrbot like `42` or `KR-4 42 at risk: hiring slipped`.

A DM is read line by line; an edit of it (`message_changed`) replaces what it stored,
and deleting it (`message_deleted`) takes that back.
Every other message event in a DM (okrbot's own messages and their edits, deletions,
joins) is acknowledged and left alone: Slack retries anything but a 2xx.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.checkins import render_reply, render_small_talk, render_taken_back
from bot.blocks.common import render_error
from bot.checkins.dm import DM_HELP, small_talk
from bot.core.errors import UserError
from handlers.deps import Deps
from handlers.listening import guarded


def _from_person(message: dict[str, Any]) -> bool:
    return not message.get("subtype") and not message.get("bot_id") and bool(message.get("user"))


def _written(event: dict[str, Any]) -> dict[str, Any] | None:
    """The person's message a DM event carries (new or edited), else None."""
    if event.get("channel_type") != "im":
        return None
    if event.get("subtype") == "message_changed":
        message = event.get("message")
        if not isinstance(message, dict) or not _from_person(message):
            return None
        previous = event.get("previous_message")
        if isinstance(previous, dict) and previous.get("text") == message.get("text"):
            return None  # an unfurl or a reaction, not an edit of what was written
        return message
    return event if _from_person(event) else None


def _deleted(event: dict[str, Any]) -> dict[str, Any] | None:
    """The person's message a `message_deleted` DM event took away, else None."""
    if event.get("channel_type") != "im" or event.get("subtype") != "message_deleted":
        return None
    previous = event.get("previous_message")
    if not isinstance(previous, dict) or not _from_person(previous):
        return None
    return previous


def register(app: AsyncApp, deps: Deps) -> None:
    async def on_deleted(
        body: dict[str, Any], message: dict[str, Any], channel: str, client: AsyncWebClient
    ) -> None:
        """A deleted DM takes back what it stored (told only when there was something)."""
        team_id, user_id, now = body["team_id"], str(message["user"]), deps.clock()
        ts = str(message.get("ts") or "")
        if not ts:
            return
        outcome = await deps.checkins.record_reply(
            team_id, user_id, "", now, prompt_id=None, message_ts=ts, edited=True
        )
        if outcome.replaced:
            await client.chat_postMessage(channel=channel, text=render_taken_back(outcome.replaced))
        for prompt_id in outcome.prompt_ids:
            await deps.cycle.refresh_prompt(client, team_id, user_id, prompt_id)

    async def on_dm(body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient) -> None:
        if (gone := _deleted(event)) is not None:
            await on_deleted(body, gone, str(event["channel"]), client)
            return
        message = _written(event)
        if message is None:
            return
        team_id, user_id, channel = body["team_id"], str(message["user"]), event["channel"]
        edited = event.get("subtype") == "message_changed"
        now = deps.clock()
        text = str(message.get("text") or "")
        kind = small_talk(text)
        if kind is not None:
            if not edited:
                await client.chat_postMessage(
                    channel=channel, text=render_small_talk(kind, DM_HELP)
                )
            return
        prompt = await deps.cycle.open_prompt(team_id, user_id, now)
        try:
            outcome = await deps.checkins.record_reply(
                team_id,
                user_id,
                text,
                now,
                prompt_id=prompt.id if prompt is not None else None,
                message_ts=str(message.get("ts") or "") or None,
                edited=edited,
            )
        except UserError as exc:
            await client.chat_postMessage(channel=channel, text=render_error(exc))
            return
        problems = [(p.line, p.text, p.reason) for p in outcome.problems]
        reply = render_reply(
            outcome.recorded, problems, edited=edited, replaced=outcome.replaced, help_text=DM_HELP
        )
        await client.chat_postMessage(channel=channel, text=reply)
        for prompt_id in outcome.prompt_ids:  # incl. one an edit reopened
            await deps.cycle.refresh_prompt(client, team_id, user_id, prompt_id)
        if outcome.recorded:  # its prompt and reminder DMs (the owner's, too) and a digest
            await deps.cycle.after_check_in(
                client, team_id, user_id, [item.key_result_number for item in outcome.recorded]
            )

    app.event("message", matchers=[_matcher])(guarded(on_dm))


async def _matcher(event: dict[str, Any]) -> bool:
    return event.get("channel_type") == "im"
