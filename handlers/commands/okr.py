"""`/okr`: objectives, key results, status, check-ins and the schedule.

Acknowledging, errors and replies follow `handlers.commands.slash`.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.blocks.checkins import checkin_modal
from bot.blocks.status import render_status
from bot.checkins.cycle import lines_for, open_prompt, skip_current_period
from bot.okrs import commands as cmd
from bot.okrs.service import Actor, Done
from bot.okrs.status import build_status
from bot.runtime.services import Services
from handlers.commands.slash import register_slash_command


def register(app: AsyncApp, services: Services) -> None:
    register_slash_command(
        app, services, "/okr", cmd.parse_okr_command, cmd.Help, cmd.HELP_TEXT, execute
    )


async def execute(
    services: Services, actor: Actor, command: cmd.OkrCommand, payload: dict[str, Any]
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
            await client.views_open(
                trigger_id=payload["trigger_id"], view=checkin_modal(lines, metadata)
            )
            return {}
    return {"response_type": "ephemeral", "text": done.message}
