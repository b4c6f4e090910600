"""Issue 11, findings 7 and 12: uninstall revokes API tokens, a reinstall takes, data is
erased after the grace period, and retention keeps tables from growing without bound."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.runtime.jobs import tick
from storage.models import (
    ApiToken,
    Kpi,
    Measurement,
    Objective,
    OutboxMessage,
    ProcessedEvent,
    RequestSignature,
    Workspace,
)
from tests.support.harness import Bot


async def workspace(bot: Bot, team: str = "T1") -> Workspace | None:
    async with bot.services.db.session() as session:
        return await session.get(Workspace, team, populate_existing=True)


async def uninstalled(bot: Bot, team: str = "T1") -> Workspace:
    """The workspace once the (asynchronous) uninstall listener has marked it."""
    for _ in range(100):
        found = await workspace(bot, team)
        if found is not None and not found.installed:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{team} was never marked uninstalled")


async def count(bot: Bot, model: type, **where: object) -> int:
    async with bot.services.db.session() as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(await session.scalar(query) or 0)


async def api_status(bot: Bot, token: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{bot.url}/api/v1/kpis/mrr", headers={"Authorization": f"Bearer {token}"}
        ) as response,
    ):
        return response.status


async def test_finding_7_uninstall_revokes_tokens_and_a_reinstall_takes(bot: Bot) -> None:
    await bot.command('add mrr "Monthly revenue"', command="/kpi")
    token = await bot.services.tokens.create("T1", "pipeline", bot.clock.now)
    assert await api_status(bot, token) == 200

    assert (await bot.sender.event({"type": "app_uninstalled"})).status == 200
    gone = await uninstalled(bot)
    assert gone.uninstalled_at == bot.clock.now
    assert await api_status(bot, token) == 401  # revoked at once
    assert (await tick(bot.services, bot.clock.now)).done.get("workspaces erased") is None

    # The reinstalled app's first signed request: okrbot acts in the workspace again.
    await bot.command("help")
    back = await workspace(bot)
    assert back is not None and back.installed is True and back.uninstalled_at is None
    assert await count(bot, Kpi) == 1  # nothing was lost in between
    assert await api_status(bot, token) == 401  # revoked tokens stay revoked


async def test_finding_7_tokens_revoked_event_counts_as_removal(bot: Bot) -> None:
    await bot.command("help")
    event = {"type": "tokens_revoked", "tokens": {"bot": ["UBOT"]}}
    assert (await bot.sender.event(event)).status == 200
    await uninstalled(bot)


async def test_finding_7_data_is_erased_after_the_grace_period(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    await bot.command('objective add "Ours"')
    await bot.command('objective add "Theirs"', team="T2")
    await bot.command('add mrr "Monthly revenue"', command="/kpi")
    await bot.sender.event({"type": "app_uninstalled"})
    await uninstalled(bot)
    grace = bot.services.settings.uninstall_grace
    assert grace == timedelta(days=30)  # OKRBOT_UNINSTALL_GRACE_DAYS' default

    report = await tick(bot.services, bot.clock.now + grace - timedelta(minutes=1))
    assert "workspaces erased" not in report.done
    assert await count(bot, Objective, team_id="T1") == 1

    with caplog.at_level(logging.INFO, logger="bot.workspaces.lifecycle"):
        report = await tick(bot.services, bot.clock.now + grace + timedelta(minutes=1))
    assert report.done["workspaces erased"] == 1
    assert await workspace(bot) is None
    for model in (Objective, Kpi, ApiToken, ProcessedEvent):
        assert await count(bot, model, team_id="T1") == 0, model
    assert await count(bot, Objective, team_id="T2") == 1  # another team is untouched
    [line] = [r for r in caplog.records if r.getMessage() == "workspace data erased"]
    assert line.team_id == "T1"


async def test_finding_12_retention_prunes_old_rows(bot: Bot) -> None:
    await bot.command('add mrr "Monthly revenue" channel #growth max 10', command="/kpi")
    await bot.command("record mrr 50 at 2026-11-25T09:00Z", command="/kpi")  # opens an alert
    await bot.sender.event({"type": "app_home_opened", "user": "U1", "tab": "home"})
    await bot.services.drain()
    await bot.slack.wait_until(lambda: bool(bot.slack.messages("C2")))
    assert await count(bot, ProcessedEvent) == 1
    assert await count(bot, RequestSignature) >= 3
    async with bot.services.db.session() as session:
        [alert_post] = list(await session.scalars(select(OutboxMessage.id)))

    # A day later the event id is forgotten, the signatures long since.
    report = await tick(bot.services, bot.clock.now + timedelta(days=1, minutes=1))
    assert report.done["event ids pruned"] == 1
    assert await count(bot, ProcessedEvent) == 0
    assert await count(bot, OutboxMessage, id=alert_post) == 1  # sent rows are kept 30 days
    report = await tick(bot.services, bot.clock.now + timedelta(days=31))
    assert report.done["outbox rows pruned"] >= 1
    assert await count(bot, OutboxMessage, id=alert_post) == 0
    # Measurements are kept forever unless OKRBOT_MEASUREMENT_RETENTION_DAYS says otherwise.
    assert await count(bot, Measurement) == 1


async def test_finding_12_measurements_older_than_the_retention_are_pruned(bot: Bot) -> None:
    from bot.workspaces.retention import Retention

    await bot.command('add mrr "Monthly revenue"', command="/kpi")
    await bot.command("record mrr 1 at 2026-10-01T00:00Z", command="/kpi")
    await bot.command("record mrr 2 at 2026-11-20T00:00Z", command="/kpi")
    counts = await Retention(bot.services.db, timedelta(days=30)).prune(bot.clock.now)
    assert counts["measurements pruned"] == 1
    async with bot.services.db.session() as session:
        assert list(await session.scalars(select(Measurement.value))) == [2.0]
