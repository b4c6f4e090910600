"""The "new key result that follows this KPI" modal's submission: field errors in the
modal, or the key result added and the person told where."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.common import render_done
from bot.blocks.goals import KPI_GOAL_CALLBACK
from bot.core.actor import Actor
from bot.core.errors import FieldError, UserError
from bot.okrs.commands import check_kpi_goal
from handlers.deps import Deps


def _read(values: dict[str, Any], block_id: str) -> str | None:
    """A field's value from Slack's view state (the only place that knows its shape)."""
    state = values.get(block_id, {}).get(block_id, {})
    if state.get("type") == "static_select":
        value = (state.get("selected_option") or {}).get("value")
    elif state.get("type") == "users_select":
        value = state.get("selected_user")
    else:
        value = state.get("value")
    return None if value is None else str(value)


def register(app: AsyncApp, deps: Deps) -> None:
    async def submit(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        try:
            metadata = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            metadata = {}
        key = str(metadata.get("kpi") or "") if isinstance(metadata, dict) else ""
        channel = metadata.get("channel") if isinstance(metadata, dict) else None
        values = view["state"]["values"]
        fields = (_read(values, name) for name in ("objective", "title", "target", "owner"))
        goal, errors = check_kpi_goal(key, *fields)
        if goal is None:
            await ack(response_action="errors", errors=errors)
            return
        actor = Actor(body["team"]["id"], body["user"]["id"], channel)
        try:
            done = await deps.okrs.add_kpi_goal(actor, goal, deps.clock())
        except FieldError as exc:
            await ack(response_action="errors", errors={exc.field: exc.message[:150]})
            return
        except UserError as exc:  # e.g. the KPI was deleted while the modal was open
            await ack(response_action="errors", errors={"objective": exc.message[:150]})
            return
        await ack()
        text = render_done(done)
        if isinstance(channel, str) and channel:
            await client.chat_postEphemeral(channel=channel, user=actor.user_id, text=text)
        else:
            await client.chat_postMessage(channel=actor.user_id, text=text)

    app.view(KPI_GOAL_CALLBACK)(submit)
