"""The minute tick as a whole: each workspace worked on alone, and Slack trouble in one
step (the time-zone refresh) not stopping the others."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.runtime.jobs import tick
from storage.models import Prompt
from storage.repositories import TeamStore
from tests.support.harness import Bot

MONDAY_9_NEW_YORK = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


async def test_a_failing_zone_refresh_still_sends_the_prompts(bot: Bot) -> None:
    await bot.command('objective add "Grow"')
    await bot.command('kr add O-1 "Churn" from 5 to 3 unit % owner @ben')
    bot.slack.inject("users.list", status=500, count=50)  # outlasts the client's retries
    report = await tick(bot.services, MONDAY_9_NEW_YORK)
    assert report.failed_teams == []
    assert report.done.get("prompts planned") == 1  # Ben, in the fallback zone's Monday 9:00
    # His prompt, and the DM telling him he owns KR-1 now (issue 10).
    assert report.done.get("messages sent") == 2
    assert [c.method for c in bot.slack.calls_to("users.list")]  # it was tried


async def test_planning_that_loses_a_write_race_runs_again(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    await bot.command('objective add "Grow"')
    await bot.command('kr add O-1 "Churn" from 5 to 3 unit % owner @ben')
    alerts_plan = bot.services.alerts.plan
    raced = []

    async def racing(store: TeamStore, now: datetime) -> dict[str, int]:
        if not raced:  # the first time: another connection committed after we read
            raced.append(now)
            raise OperationalError("INSERT …", {}, sqlite3.OperationalError("database is locked"))
        return await alerts_plan(store, now)

    monkeypatch.setattr(bot.services.alerts, "plan", racing)
    report = await tick(bot.services, MONDAY_9_NEW_YORK)
    assert raced and report.failed_teams == []  # run again, not given up on
    async with bot.services.db.session() as session:
        assert len((await session.scalars(select(Prompt))).all()) == 1  # planned once
    prompts = [
        m
        for m in bot.slack.messages("U2")
        if (m.get("metadata") or {}).get("event_payload", {}).get("kind") == "prompt"
    ]
    assert len(prompts) == 1
