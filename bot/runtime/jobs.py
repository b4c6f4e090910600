"""All work due as of an instant: the function behind the scheduler and `okrbot tick`.

Each workspace is worked on alone: its context is loaded once and handed to
every step, its planning runs in one transaction (a savepoint per step), and a
failure in one workspace is logged with its team id while the others go on.
Planning comes first for every workspace, then delivery, a few workspaces at a
time, so one workspace's long fan-out does not hold the others' planning back.
The server plans every minute and delivers from a sweep every few seconds
(`bot.runtime.scheduler`); `tick` does both and waits for the delivery.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime

from slack_sdk.web.async_client import AsyncWebClient

from bot.core.message import Message
from bot.runtime.services import Services
from bot.slack.clients import NoInstallation
from bot.slack.outbox import Composer
from storage.db import is_write_conflict
from storage.models import OutboxMessage
from storage.repositories import TeamStore
from storage.repositories.fleet import installed_team_ids, teams_with_due_messages

log = logging.getLogger(__name__)

TEAMS_AT_ONCE = 4  # workspaces delivered concurrently by one tick (each with its own budget)


@dataclass
class TickReport:
    """What one tick did, for logs, the CLI and tests."""

    at: datetime
    done: dict[str, int] = field(default_factory=dict)
    failed_teams: list[str] = field(default_factory=list)

    def add(self, counts: dict[str, int]) -> None:
        for name, count in counts.items():
            if count:
                self.done[name] = self.done.get(name, 0) + count

    def summary(self) -> str:
        parts = [f"{name}: {count}" for name, count in sorted(self.done.items())]
        if self.failed_teams:
            parts.append(f"workspaces that failed: {', '.join(self.failed_teams)}")
        return f"tick at {self.at.isoformat()} — " + (", ".join(parts) or "nothing due")


class Composers:
    """Every composer of one run, so one claim covers all the kinds a workspace sends."""

    def __init__(self, *composers: Composer) -> None:
        self._by_kind = {kind: c for c in composers for kind in c.kinds}
        self.kinds = tuple(self._by_kind)

    async def load(self, store: TeamStore, rows: list[OutboxMessage]) -> None:
        for composer in {id(c): c for c in self._by_kind.values()}.values():
            mine = [row for row in rows if self._by_kind[row.kind] is composer]
            if mine:
                await composer.load(store, mine)

    async def compose(self, client: AsyncWebClient, row: OutboxMessage) -> Message | None:
        return await self._by_kind[row.kind].compose(client, row)

    async def record(self, store: TeamStore, row: OutboxMessage) -> None:
        await self._by_kind[row.kind].record(store, row)

    async def after_send(self, client: AsyncWebClient, row: OutboxMessage) -> None:
        await self._by_kind[row.kind].after_send(client, row)


async def _step(
    report: TickReport, store: TeamStore, name: str, work: Awaitable[dict[str, int]]
) -> None:
    """One planning step in a savepoint: its failure undoes only itself."""
    try:
        async with store.session.begin_nested():
            report.add(await work)
    except Exception as error:
        if is_write_conflict(error):
            raise _WriteConflict() from error
        log.exception("tick step failed", extra={"team_id": store.team_id, "step": name})
        if store.team_id not in report.failed_teams:
            report.failed_teams.append(store.team_id)


class _WriteConflict(Exception):
    """The planning transaction lost a race with another writer (SQLite): run it again."""


PLAN_ATTEMPTS = 3


async def plan_team(services: Services, team_id: str, now: datetime, report: TickReport) -> bool:
    """Plan what one workspace has due at `now`; False when it is not to be worked on.

    A transaction that lost a write race is run again from the start (its counts are
    kept only when it commits)."""
    for attempt in range(1, PLAN_ATTEMPTS + 1):
        tried = TickReport(at=now)
        try:
            planned = await _plan_team_once(services, team_id, now, tried)
        except _WriteConflict:
            log.info("planning raced another writer: again", extra={"team_id": team_id})
            if attempt == PLAN_ATTEMPTS:
                report.failed_teams.append(team_id)
                return False
            await asyncio.sleep(0.05 * attempt)
            continue
        report.add(tried.done)
        report.failed_teams.extend(t for t in tried.failed_teams if t not in report.failed_teams)
        return planned
    return False


async def _plan_team_once(
    services: Services, team_id: str, now: datetime, report: TickReport
) -> bool:
    """Loading the context and planning share one transaction, unless the time-zone
    cache must first be refreshed from Slack (no Slack call runs inside one)."""
    cycle = services.cycle
    for attempt in ("cached zones", "fresh zones"):
        async with services.db.team(team_id) as store:
            context = await cycle.context(store)
            if context is None:
                return False
            if attempt == "fresh zones" or not context.needs_user_sync(now):
                await _step(report, store, "check-ins", cycle.plan(store, context, now))
                await _step(report, store, "escalations", services.habits.plan(store, context, now))
                await _step(report, store, "alerts", services.alerts.plan(store, now))
                return True
        try:
            await cycle.sync_zones(team_id, now)
        except NoInstallation:
            log.warning("no bot token for workspace: skipped", extra={"team_id": team_id})
            report.add({"workspaces without a bot token": 1})
            return False
        except Exception:  # Slack is slow or down: plan with the zones we know
            log.exception("time-zone refresh failed", extra={"team_id": team_id})
    return True


async def deliver_team(
    services: Services, team_id: str, now: datetime, report: TickReport, *, wait: bool
) -> None:
    """Send what one workspace has due (see `Outbox.deliver` for `wait`), isolated: a
    failure is logged with the team id and the other workspaces go on."""
    composers = Composers(
        services.cycle.composer(), services.alerts.composer(), services.habits.composer()
    )
    try:
        delivered = await services.outbox.deliver(team_id, now, composers, wait=wait)
    except Exception:
        log.exception("delivery failed for a workspace", extra={"team_id": team_id})
        if team_id not in report.failed_teams:
            report.failed_teams.append(team_id)
        return
    report.add(delivered.counts())


async def plan(services: Services, now: datetime, report: TickReport) -> list[str]:
    """Plan every installed workspace's work due at `now`, one workspace at a time;
    returns the workspaces to deliver for."""
    async with services.db.session() as session:
        teams = await installed_team_ids(session)
    planned = []
    for team_id in teams:
        try:
            if await plan_team(services, team_id, now, report):
                planned.append(team_id)
        except Exception:
            log.exception("tick failed for a workspace", extra={"team_id": team_id})
            report.failed_teams.append(team_id)
    return planned


async def deliver(
    services: Services, team_ids: list[str], now: datetime, report: TickReport, *, wait: bool
) -> None:
    """Deliver for these workspaces, a few at once, each isolated."""
    gate = asyncio.Semaphore(TEAMS_AT_ONCE)

    async def one(team_id: str) -> None:
        async with gate:
            await deliver_team(services, team_id, now, report, wait=wait)

    await asyncio.gather(*(one(team_id) for team_id in team_ids))


async def tick(services: Services, now: datetime) -> TickReport:
    """Do everything due at `now`; safe to run twice or from two processes at once.

    Returns once every due message is settled: sent, or left to another live
    sender, or back to pending with a later time after failing for a while.
    """
    report = TickReport(at=now)
    with services.metrics.ticks.time():
        teams = await plan(services, now, report)
        await deliver(services, teams, now, report, wait=True)
        await housekeeping(services, now, report)
    return report


async def housekeeping(services: Services, now: datetime, report: TickReport) -> None:
    """Retention and erasing removed workspaces: one sweep across workspaces per tick,
    each on its own, so a failure is logged and the other goes on."""
    try:
        report.add(await services.retention.prune(now))
    except Exception:
        log.exception("retention sweep failed", extra={"job": "tick"})
    try:
        report.add({"workspaces erased": await services.workspaces.erase_expired(now)})
    except Exception:
        log.exception("erasing uninstalled workspaces failed", extra={"job": "tick"})


async def sweep(services: Services, now: datetime) -> list[str]:
    """The server's "who has something to send now" (one query when nothing is due)."""
    async with services.db.session() as session:
        return await teams_with_due_messages(session, now, services.outbox.lease)
