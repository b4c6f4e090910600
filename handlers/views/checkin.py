"""The check-in modal's submission: field errors in the modal, or everything stored."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.checkins import CHECKIN_CALLBACK, render_saved
from bot.checkins.recording import FormEntry
from bot.core.errors import UserError
from handlers.deps import Deps

log = logging.getLogger(__name__)


def _form(values: dict[str, Any], numbers: list[int]) -> dict[int, FormEntry]:
    """Plain form values from Slack's view state (the only place that knows its shape)."""

    def read(block_id: str, action_id: str) -> str | None:
        state = values.get(block_id, {}).get(action_id, {})
        if state.get("type") == "checkboxes":
            chosen = [option.get("value") for option in state.get("selected_options") or []]
            return "same" if "same" in chosen else None
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
            same=read(f"kr{n}_same", "same") == "same",
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
            checked = await deps.checkins.check_form(team_id, user_id, form, deps.clock())
        except UserError as exc:
            first = numbers[0] if numbers else 0
            await ack(response_action="errors", errors={f"kr{first}_value": exc.message[:150]})
            return
        if checked.errors:
            await ack(
                response_action="errors",
                errors={
                    f"kr{n}_{field}": message for (n, field), message in checked.errors.items()
                },
            )
            return
        prompt_id = metadata.get("prompt")
        try:
            recorded = await deps.checkins.record(
                team_id,
                user_id,
                checked.pairs,
                "modal",
                deps.clock(),
                prompt_id=prompt_id,
                unchanged=checked.unchanged,
            )
        except UserError as exc:  # e.g. a key result deleted while the modal was open
            first = numbers[0] if numbers else 0
            await ack(response_action="errors", errors={f"kr{first}_value": exc.message[:150]})
            return
        # The modal turns into the confirmation; the prompt, its reminder and a digest
        # already posted for the week then show the save too.
        await ack(response_action="update", view=render_saved(recorded))
        await deps.cycle.after_check_in(
            client, team_id, user_id, [item.key_result_number for item in recorded]
        )

    app.view(CHECKIN_CALLBACK)(submit)
