"""The admins' settings modal from the App Home: field errors in the modal, or saved."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.home import SETTINGS_CALLBACK
from bot.core.actor import Actor
from bot.core.errors import UserError
from bot.home.service import check_delays
from bot.okrs.commands import parse_local_time
from handlers.deps import Deps


def register(app: AsyncApp, deps: Deps) -> None:
    async def submit(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        team_id, user_id = body["team"]["id"], body["user"]["id"]
        values = view["state"]["values"]
        option = (values.get("weekday", {}).get("weekday", {}) or {}).get("selected_option")
        raw_time = str((values.get("time", {}).get("time", {}) or {}).get("value") or "")
        hours = {
            block: (values.get(block, {}).get("hours", {}) or {}).get("value")
            for block in ("reminder", "digest", "escalation")
        }
        delays, errors = check_delays(hours)
        if not option or not str(option.get("value", "")).isdigit():
            errors["weekday"] = "Choose a day."
        local_time = parse_local_time(raw_time.strip())
        if local_time is None:
            errors["time"] = f"{raw_time.strip() or 'Nothing'} is not a time like 09:00 (24-hour)."
        if errors or local_time is None or option is None or delays is None:
            await ack(response_action="errors", errors=errors)
            return
        actor = Actor(team_id, user_id)
        try:
            await deps.schedules.change(actor, int(option["value"]), local_time, None, deps.clock())
            await deps.home.service.change_delays(team_id, user_id, delays, deps.clock())
        except UserError as exc:
            await ack(response_action="errors", errors={"weekday": exc.message[:150]})
            return
        await ack()
        await deps.home.publish(team_id, user_id, client)

    app.view(SETTINGS_CALLBACK)(submit)
