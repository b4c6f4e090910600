"""The check-in modal's submission: field errors in the modal, or everything stored."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.checkins import CHECKIN_CALLBACK
from bot.checkins.recording import FormEntry
from bot.core.errors import UserError
from handlers.behalf import refresh_owners_prompts
from handlers.deps import Deps

log = logging.getLogger(__name__)


def _form(values: dict[str, Any], numbers: list[int]) -> dict[int, FormEntry]:
    """Plain form values from Slack's view state (the only place that knows its shape)."""

    def read(block_id: str, action_id: str) -> str | None:
        state = values.get(block_id, {}).get(action_id, {})
        if state.get("type") == "static_select":
            option = state.get("selected_option") or {}
            return option.get("value")
        text = state.get("value")
        return text if text is None else str(text)

    form = {}
    for n in numbers:
        confidence = read(f"kr{n}_confidence", "confidence")
        form[n] = FormEntry(
            value=read(f"kr{n}_value", "value"),
            status=read(f"kr{n}_status", "status"),
            confidence=int(confidence) if confidence and confidence.isdigit() else None,
            note=read(f"kr{n}_note", "note"),
        )
    return form


def register(app: AsyncApp, deps: Deps) -> None:
    async def submit(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        team_id, user_id = body["team"]["id"], body["user"]["id"]
        metadata = json.loads(view.get("private_metadata") or "{}")
        numbers = [int(n) for n in metadata.get("krs", [])]
        form = _form(view["state"]["values"], numbers)
        try:
            pairs, errors = await deps.checkins.check_form(team_id, user_id, form, deps.clock())
        except UserError as exc:
            first = numbers[0] if numbers else 0
            await ack(response_action="errors", errors={f"kr{first}_value": exc.message[:150]})
            return
        if errors:
            await ack(
                response_action="errors",
                errors={f"kr{n}_{field}": message for (n, field), message in errors.items()},
            )
            return
        prompt_id = metadata.get("prompt")
        try:
            await deps.checkins.record(
                team_id, user_id, pairs, "modal", deps.clock(), prompt_id=prompt_id
            )
        except UserError as exc:  # e.g. a key result deleted while the modal was open
            first = numbers[0] if numbers else 0
            await ack(response_action="errors", errors={f"kr{first}_value": exc.message[:150]})
            return
        await ack()
        if prompt_id is not None:
            await deps.cycle.refresh_prompt(client, team_id, user_id, int(prompt_id))
        await refresh_owners_prompts(deps, client, team_id, user_id, pairs)

    app.view(CHECKIN_CALLBACK)(submit)
