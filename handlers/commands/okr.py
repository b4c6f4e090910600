"""`/okr`: objectives, key results, status, check-ins and the schedule.

Acknowledging, errors and replies follow `handlers.commands.slash`.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.blocks.checkins import checkin_modal
from bot.blocks.common import render_done
from bot.blocks.status import render_status
from bot.core.actor import Actor
from bot.core.outcome import Done
from bot.okrs import commands as cmd
from handlers.commands.slash import register_slash_command
from handlers.deps import Deps


def register(app: AsyncApp, deps: Deps) -> None:
    register_slash_command(
        app, deps, "/okr", cmd.parse_okr_command, cmd.Help, cmd.HELP_TEXT, execute
    )


async def execute(
    deps: Deps, actor: Actor, command: cmd.OkrCommand, payload: dict[str, Any]
) -> dict[str, Any]:
    """Run a parsed command; returns the keyword arguments for `respond`."""
    now = deps.clock()
    okrs = deps.okrs
    done: Done
    match command:
        case cmd.Status():
            report = await deps.status.report(
                actor.team_id, actor.channel_id, command, now, viewer_id=actor.user_id
            )
            return {"response_type": "in_channel", **render_status(report).as_kwargs()}
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
        case cmd.ScheduleCommand(weekday=None):
            done = await deps.schedules.show(actor, command.channel)
        case cmd.ScheduleCommand(weekday=int(weekday), local_time=str(local_time)):
            done = await deps.schedules.change(actor, weekday, local_time, command.channel, now)
        case cmd.Skip():
            done = Done(await deps.cycle.skip_current_period(actor.team_id, actor.user_id, now))
        case cmd.CheckIn():
            numbers = [command.key_result_number] if command.key_result_number else None
            lines = await deps.checkins.lines_for(actor.team_id, actor.user_id, numbers)
            prompt = await deps.cycle.open_prompt(actor.team_id, actor.user_id, now)
            metadata = {"prompt": prompt.id if prompt else None, "krs": [n.number for n in lines]}
            client = await deps.clients.for_team(actor.team_id)
            await client.views_open(
                trigger_id=payload["trigger_id"], view=checkin_modal(lines, metadata)
            )
            return {}
        case _:
            raise AssertionError(f"unhandled command {command!r}")
    return {"response_type": "ephemeral", "text": render_done(done)}
