"""Free-text check-ins: a DM to okrbot like `42` or `KR-4 42 at risk: hiring slipped`."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.checkins import render_recorded
from bot.blocks.common import render_error
from bot.checkins.dm import DM_HELP, parse_dm_reply
from bot.core.errors import UserError
from handlers.deps import Deps
from handlers.listening import guarded


def _is_person_in_dm(event: dict[str, Any]) -> bool:
    return (
        event.get("channel_type") == "im"
        and not event.get("subtype")
        and not event.get("bot_id")
        and bool(event.get("user"))
    )


def register(app: AsyncApp, deps: Deps) -> None:
    async def on_dm(body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient) -> None:
        team_id, user_id, channel = body["team_id"], event["user"], event["channel"]
        now = deps.clock()
        text = event.get("text", "")
        if text.strip().lower() in {"help", "hi", "hello", "?"}:
            await client.chat_postMessage(channel=channel, text=_help())
            return
        prompt = await deps.cycle.open_prompt(team_id, user_id, now)
        prompt_id = prompt.id if prompt is not None else None
        try:
            entries = parse_dm_reply(text)
            pairs = await deps.checkins.resolve_entries(team_id, user_id, entries, prompt_id)
            recorded = await deps.checkins.record(
                team_id, user_id, pairs, "dm", now, prompt_id=prompt_id
            )
        except UserError as exc:
            await client.chat_postMessage(channel=channel, text=render_error(exc))
            return
        await client.chat_postMessage(channel=channel, text=render_recorded(recorded))
        await deps.cycle.after_check_in(
            client, team_id, user_id, [item.key_result_number for item in recorded]
        )

    app.event("message", matchers=[_matcher])(guarded(on_dm))


async def _matcher(event: dict[str, Any]) -> bool:
    return _is_person_in_dm(event)


def _help() -> str:
    return f":wave: I collect your weekly OKR check-ins. {DM_HELP} Or use `/okr checkin`."
