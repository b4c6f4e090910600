"""`/okr`: parse and answer bad input inside the ack; do the work after it.

The ack carries parse errors and help (pure and instant), so an invalid
command never reaches the channel; valid commands are acked empty and
answered through `respond` by a lazy listener, well within Slack's 3 s.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot import okr_commands as cmd
from bot.checkin_flow import lines_for, open_prompt, skip_current_period
from bot.errors import UserError
from bot.okrs import Actor, Done
from bot.render import render_status
from bot.render_checkins import checkin_modal
from bot.services import Services
from bot.status import build_status

log = logging.getLogger(__name__)


def _parse(text: str) -> cmd.OkrCommand | UserError:
    try:
        return cmd.parse_okr_command(text)
    except UserError as exc:
        return exc


def register(app: AsyncApp, services: Services) -> None:
    async def acknowledge(ack: AsyncAck, command: dict[str, Any]) -> None:
        parsed = _parse(command.get("text", ""))
        if isinstance(parsed, UserError):
            services.metrics.commands.labels("/okr", "user_error").inc()
            await ack(response_type="ephemeral", text=parsed.render())
        elif isinstance(parsed, cmd.Help):
            await ack(response_type="ephemeral", text=cmd.HELP_TEXT)
        else:
            await ack()

    async def run(command: dict[str, Any], respond: AsyncRespond) -> None:
        parsed = _parse(command.get("text", ""))
        if isinstance(parsed, UserError | cmd.Help):
            return
        actor = Actor(command["team_id"], command["user_id"], command.get("channel_id"))
        name = type(parsed).__name__
        try:
            reply = await execute(services, actor, parsed, command.get("trigger_id"))
        except UserError as exc:
            services.metrics.commands.labels("/okr", "user_error").inc()
            await respond(response_type="ephemeral", text=exc.render(), replace_original=False)
            return
        except Exception:
            services.metrics.commands.labels("/okr", "error").inc()
            log.exception("okr command failed", extra={"team_id": actor.team_id, "command": name})
            await respond(
                response_type="ephemeral",
                text=":x: Something went wrong on our side; nothing was changed. Please try again.",
            )
            return
        services.metrics.commands.labels("/okr", "ok").inc()
        if reply:
            await respond(**reply)

    app.command("/okr")(ack=acknowledge, lazy=[run])


async def execute(
    services: Services, actor: Actor, command: cmd.OkrCommand, trigger_id: str | None = None
) -> dict[str, Any]:
    """Run a parsed command; returns the keyword arguments for `respond`."""
    now = services.clock()
    okrs = services.okrs
    done: Done
    match command:
        case cmd.Status():
            report = await build_status(
                services.db,
                services.directory,
                actor.team_id,
                actor.channel_id,
                command,
                now,
                services.settings.timezone,
            )
            message = render_status(report)
            return {"response_type": "in_channel", **message.as_kwargs()}
        case cmd.ObjectiveAdd():
            done = await okrs.add_objective(actor, command, now)
        case cmd.ObjectiveEdit():
            done = await okrs.edit_objective(actor, command, now)
        case cmd.ObjectiveClose():
            done = await okrs.close_objective(actor, command.number, now)
        case cmd.ObjectiveDelete():
            done = await okrs.delete_objective(actor, command.number, now)
        case cmd.KeyResultAdd():
            done = await okrs.add_key_result(actor, command, now)
        case cmd.KeyResultEdit():
            done = await okrs.edit_key_result(actor, command, now)
        case cmd.KeyResultDelete():
            done = await okrs.delete_key_result(actor, command.number, now)
        case cmd.ScheduleCommand():
            done = await okrs.schedule(actor, command, now)
        case cmd.Skip():
            done = Done(await skip_current_period(services, actor.team_id, actor.user_id, now))
        case cmd.CheckIn():
            numbers = [command.key_result_number] if command.key_result_number else None
            lines = await lines_for(services, actor.team_id, actor.user_id, numbers)
            prompt = await open_prompt(services, actor.team_id, actor.user_id, now)
            metadata = {"prompt": prompt.id if prompt else None, "krs": [n.number for n in lines]}
            client = await services.clients.for_team(actor.team_id)
            await client.views_open(trigger_id=trigger_id, view=checkin_modal(lines, metadata))
            return {}
    return {"response_type": "ephemeral", "text": done.message}
