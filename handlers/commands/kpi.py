"""`/kpi`: parse errors and help in the ack; the work after it, answered via `respond`."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot import alerts
from bot import kpi_commands as cmd
from bot.errors import UserError
from bot.kpis import Point
from bot.okrs import Actor
from bot.render_kpis import render_kpi_list, render_kpi_show
from bot.services import Services

log = logging.getLogger(__name__)


def _parse(text: str) -> cmd.KpiCommand | UserError:
    try:
        return cmd.parse_kpi_command(text)
    except UserError as exc:
        return exc


def register(app: AsyncApp, services: Services) -> None:
    async def acknowledge(ack: AsyncAck, command: dict[str, Any]) -> None:
        parsed = _parse(command.get("text", ""))
        if isinstance(parsed, UserError):
            services.metrics.commands.labels("/kpi", "user_error").inc()
            await ack(response_type="ephemeral", text=parsed.render())
        elif isinstance(parsed, cmd.KpiHelp):
            await ack(response_type="ephemeral", text=cmd.HELP_TEXT)
        else:
            await ack()

    async def run(command: dict[str, Any], respond: AsyncRespond) -> None:
        parsed = _parse(command.get("text", ""))
        if isinstance(parsed, UserError | cmd.KpiHelp):
            return
        actor = Actor(command["team_id"], command["user_id"], command.get("channel_id"))
        try:
            reply = await execute(services, actor, parsed)
        except UserError as exc:
            services.metrics.commands.labels("/kpi", "user_error").inc()
            await respond(response_type="ephemeral", text=exc.render(), replace_original=False)
            return
        except Exception:
            services.metrics.commands.labels("/kpi", "error").inc()
            log.exception("kpi command failed", extra={"team_id": actor.team_id})
            await respond(
                response_type="ephemeral",
                text=":x: Something went wrong on our side; nothing was changed. Please try again.",
            )
            return
        services.metrics.commands.labels("/kpi", "ok").inc()
        await respond(**reply)

    app.command("/kpi")(ack=acknowledge, lazy=[run])


async def execute(services: Services, actor: Actor, command: cmd.KpiCommand) -> dict[str, Any]:
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
