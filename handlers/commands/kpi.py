"""`/kpi`: KPI definitions, measurements, list and show (see `handlers.commands.slash`)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.blocks.common import render_done
from bot.blocks.kpis import render_kpi_list, render_kpi_recorded, render_kpi_show
from bot.core.actor import Actor
from bot.kpis import commands as cmd
from bot.kpis.charting import upload_chart
from handlers.commands.slash import register_slash_command
from handlers.deps import Deps
from storage.repositories.kpis import Point


def register(app: AsyncApp, deps: Deps) -> None:
    register_slash_command(
        app, deps, "/kpi", cmd.parse_kpi_command, cmd.KpiHelp, cmd.HELP_TEXT, execute
    )


async def execute(
    deps: Deps, actor: Actor, command: cmd.KpiCommand, payload: dict[str, Any]
) -> dict[str, Any]:
    now = deps.clock()
    kpis = deps.kpis
    match command:
        case cmd.KpiAdd():
            text = render_done(await kpis.add(actor, command, now))
        case cmd.KpiEdit():
            text = render_done(await kpis.edit(actor, command, now))
        case cmd.KpiDelete():
            text = render_done(await kpis.delete(actor, command.key, now))
        case cmd.KpiList():
            message = render_kpi_list(await kpis.summaries(actor.team_id))
            return {"response_type": "ephemeral", **message.as_kwargs()}
        case cmd.KpiShow():
            summary = await kpis.summary(actor.team_id, command.key, recent=48)
            would_alert = await kpis.alerts_in(actor.team_id, command.key, 30, now)
            chart = await kpis.chart(actor.team_id, command.key)
            client = await deps.clients.for_team(actor.team_id)
            file_id = await upload_chart(client, chart) if chart.points else None
            message = render_kpi_show(summary, would_alert, file_id)
            return {"response_type": "ephemeral", **message.as_kwargs()}
        case cmd.KpiRecord():
            at = command.at or now
            await kpis.record(actor, command.key, Point(at, command.value), now)
            summary = await kpis.summary(actor.team_id, command.key)
            text = render_kpi_recorded(summary, command.value, at)
        case _:
            raise AssertionError(f"unhandled command {command!r}")
    return {"response_type": "ephemeral", "text": text}
