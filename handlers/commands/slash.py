"""The shape every slash command shares: answer bad input and help inside the ack,
acknowledge the rest empty within Slack's 3 s, and do the work in a lazy listener that
replies through `respond`."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.blocks.common import render_error
from bot.core.actor import Actor
from bot.core.errors import UserError
from handlers.deps import Deps
from storage.db import DatabaseUnavailable

log = logging.getLogger(__name__)

C = TypeVar("C")
Execute = Callable[[Deps, Actor, C, dict[str, Any]], Awaitable[dict[str, Any]]]

FAILED = ":x: Something went wrong on our side; nothing was changed. Please try again."
UNREACHABLE = (
    ":warning: okrbot can't reach its database, try again in a minute. Nothing was changed."
)


# Commands' follow-up work (database, rendering, any lookups it makes in Slack) running
# at once, per app. Past what the process can do, acks must still leave within Slack's
# 3 s: the rest of the work waits its turn here (its response_url stays valid for 30
# minutes) instead of crowding the event loop the acks need. The reply itself is sent
# after the turn, so a slow response_url does not hold one.
FOLLOW_UPS_AT_ONCE = 4
_follow_ups: weakref.WeakKeyDictionary[AsyncApp, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def register_slash_command(
    app: AsyncApp,
    deps: Deps,
    name: str,
    parse: Callable[[str], C],
    help_type: type,
    help_text: str,
    execute: Execute[C],
) -> None:
    """Register `name` with `parse` (pure, may raise UserError) and `execute` (the work)."""

    def parsed(text: str) -> C | UserError:
        try:
            return parse(text)
        except UserError as exc:
            return exc

    async def acknowledge(ack: AsyncAck, command: dict[str, Any]) -> None:
        result = parsed(command.get("text", ""))
        if isinstance(result, UserError):
            deps.metrics.commands.labels(name, "user_error").inc()
            await ack(response_type="ephemeral", text=render_error(result))
        elif isinstance(result, help_type):
            await ack(response_type="ephemeral", text=help_text)
        elif not deps.database_reachable:  # known down: say so now, not after a timeout
            deps.metrics.commands.labels(name, "unavailable").inc()
            await ack(response_type="ephemeral", text=UNREACHABLE)
        else:
            await ack()

    turns = _follow_ups.setdefault(app, asyncio.Semaphore(FOLLOW_UPS_AT_ONCE))

    async def run(command: dict[str, Any], respond: AsyncRespond) -> None:
        result = parsed(command.get("text", ""))
        if isinstance(result, UserError | help_type):
            return
        if not deps.database_reachable:
            return  # the ack said so
        actor = Actor(command["team_id"], command["user_id"], command.get("channel_id"))
        try:
            async with turns:  # the work waits its turn; the reply below does not
                reply = await execute(deps, actor, result, command)
        except UserError as exc:
            deps.metrics.commands.labels(name, "user_error").inc()
            await respond(response_type="ephemeral", text=render_error(exc), replace_original=False)
            return
        except DatabaseUnavailable:  # rolled back: nothing half-written
            deps.metrics.commands.labels(name, "unavailable").inc()
            log.warning("command while the database is unreachable", extra={"command": name})
            await respond(response_type="ephemeral", text=UNREACHABLE)
            return
        except Exception:
            deps.metrics.commands.labels(name, "error").inc()
            log.exception(
                "command failed",
                extra={"team_id": actor.team_id, "command": name, "kind": type(result).__name__},
            )
            await respond(response_type="ephemeral", text=FAILED)
            return
        deps.metrics.commands.labels(name, "ok").inc()
        if reply:
            await respond(**reply)

    app.command(name)(ack=acknowledge, lazy=[run])
