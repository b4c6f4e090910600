"""Free-text check-ins: a DM to okrbot like `42` or `KR-4 42 at risk: hiring slipped`."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.checkins.cycle import open_prompt
from bot.checkins.recording import DM_HELP, describe, parse_dm_reply
from bot.core.errors import UserError
from bot.runtime.services import Services
from handlers.actions.checkin import refresh_prompt_message


def _is_person_in_dm(event: dict[str, Any]) -> bool:
    return (
        event.get("channel_type") == "im"
        and not event.get("subtype")
        and not event.get("bot_id")
        and bool(event.get("user"))
    )


def register(app: AsyncApp, services: Services) -> None:
    async def on_dm(body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient) -> None:
        team_id, user_id, channel = body["team_id"], event["user"], event["channel"]
        now = services.clock()
        text = event.get("text", "")
        if text.strip().lower() in {"help", "hi", "hello", "?"}:
            await client.chat_postMessage(channel=channel, text=_help())
            return
        prompt = await open_prompt(services, team_id, user_id, now)
        prompt_id = prompt.id if prompt is not None else None
        try:
            entries = parse_dm_reply(text)
            pairs = await services.checkins.resolve_entries(team_id, user_id, entries, prompt_id)
            recorded = await services.checkins.record(
                team_id, user_id, pairs, "dm", now, prompt_id=prompt_id
            )
        except UserError as exc:
            await client.chat_postMessage(channel=channel, text=exc.render())
            return
        lines = "\n".join(f"• {describe(item)}" for item in recorded)
        await client.chat_postMessage(
            channel=channel, text=f":white_check_mark: Recorded:\n{lines}"
        )
        if prompt is not None and prompt.channel_id and prompt.message_ts:
            await refresh_prompt_message(
                services,
                client,
                team_id,
                prompt.id,
                channel=prompt.channel_id,
                ts=prompt.message_ts,
            )

    app.event("message", matchers=[_matcher])(on_dm)


async def _matcher(event: dict[str, Any]) -> bool:
    return _is_person_in_dm(event)


def _help() -> str:
    return f":wave: I collect your weekly OKR check-ins. {DM_HELP} Or use `/okr checkin`."
