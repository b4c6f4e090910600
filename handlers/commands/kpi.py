"""`/kpi`: KPI definitions, measurements, list and show (see `handlers.commands.slash`)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.blocks.kpis import render_kpi_list, render_kpi_show
from bot.core.errors import UserError
from bot.kpis import alerting as alerts
from bot.kpis import commands as cmd
from bot.kpis.service import Point
from bot.okrs.service import Actor
from bot.runtime.services import Services
from handlers.commands.slash import register_slash_command


def register(app: AsyncApp, services: Services) -> None:
    register_slash_command(
        app, services, "/kpi", cmd.parse_kpi_command, cmd.KpiHelp, cmd.HELP_TEXT, execute
    )


async def execute(
    services: Services, actor: Actor, command: cmd.KpiCommand, payload: dict[str, Any]
) -> dict[str, Any]:
    now = services.clock()
    kpis = services.kpis
    match command:
        case cmd.KpiAdd():
            text = (await kpis.add(actor, command, now)).message
        case cmd.KpiEdit():
            text = (await kpis.edit(actor, command, now)).message
        case cmd.KpiDelete():
            text = (await kpis.delete(actor, command.key, now)).message
        case cmd.KpiList():
            message = render_kpi_list(await kpis.summaries(actor.team_id))
            return {"response_type": "ephemeral", **message.as_kwargs()}
        case cmd.KpiShow():
            summary = await kpis.summary(actor.team_id, command.key, recent=48)
            return {"response_type": "ephemeral", **render_kpi_show(summary).as_kwargs()}
        case cmd.KpiRecord():
            at = command.at or now
            result = await kpis.ingest(
                actor.team_id, command.key, [Point(at, command.value)], "command", now
            )
            await alerts.deliver(services, now, result.updated_alerts)
            summary = await kpis.summary(actor.team_id, command.key)
            state = summary["alert"]["state"]
            suffix = "" if state == "ok" else f" The KPI is alerting ({state.replace('_', ' ')})."
            text = (
                f":white_check_mark: Recorded {command.value:g} for *{command.key}* at "
                f"{at:%Y-%m-%d %H:%M} UTC.{suffix}"
            )
        case _:
            raise UserError("that /kpi command is not available")
    return {"response_type": "ephemeral", "text": text}
