"""KPIs and OKRs together: each objective says how the KPIs its key results follow are."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.runtime.jobs import tick
from tests.support.harness import Bot

T0 = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)


def heading_of(blocks: list[dict[str, Any]], objective: str) -> str:
    [text] = [
        b["text"]["text"]
        for b in blocks
        if b["type"] == "section" and b["text"]["text"].startswith(f"*{objective} ")
    ]
    return str(text)


async def setup_okrs_with_kpis(bot: Bot) -> None:
    for kpi in (
        'add signup_rate "Signup conversion" unit % min 2 max 5 channel #growth',
        'add api_latency "API p95" unit ms max 300 channel #growth',
        'add churn "Monthly churn" unit % max 5 channel #growth',
    ):
        assert "Created KPI" in (await bot.command(kpi, command="/kpi")).text
    await bot.command('objective add "Grow"')
    await bot.command('objective add "Hire"')
    for kr in (
        'kr add O-1 "Conversion at 4%" from 2 to 4 follows signup_rate',
        'kr add O-1 "Fast API" from 400 to 200 follows api_latency',
        'kr add O-1 "Faster API pages" from 500 to 250 follows api_latency',
        'kr add O-1 "Low churn" from 5 to 2 follows churn',
        'kr add O-2 "Two engineers" from 0 to 2',
    ):
        assert "Added" in (await bot.command(kr)).text


async def test_status_shows_the_health_of_the_kpis_each_objective_follows(bot: Bot) -> None:
    await setup_okrs_with_kpis(bot)
    bot.clock.now = T0
    await bot.command("record signup_rate 3.1", command="/kpi")
    await bot.command("record api_latency 480", command="/kpi")  # opens an alert at 13:00
    await bot.services.drain()

    status = await bot.command("status")
    blocks = status.visible["blocks"]
    ts = int(T0.timestamp())
    grow = heading_of(blocks, "O-1")
    assert grow.splitlines()[-1] == (
        f"KPIs: `signup_rate` ok · :rotating_light: `api_latency` alert since "
        f"<!date^{ts}^{{time}}|13:00 UTC> · `churn` waiting for data"
    )
    assert "KPIs:" not in heading_of(blocks, "O-2")  # it follows no KPI
    assert "1 KPI in alert" in status.text

    # Two days on, the line says which day it began (each reader sees their own zone).
    bot.clock.now = T0 + timedelta(days=2)
    later = heading_of((await bot.command("status")).visible["blocks"], "O-1")
    assert f"<!date^{ts}^{{date_short_pretty}} {{time}}|Nov 25 13:00 UTC>" in later

    # Back in range: the alert resolves and the line says so.
    await bot.command("record api_latency 120", command="/kpi")
    await bot.services.drain()
    resolved = heading_of((await bot.command("status O-1")).visible["blocks"], "O-1")
    assert "`api_latency` ok" in resolved and "alert" not in resolved


async def test_a_kpi_without_data_is_named_in_the_line(bot: Bot) -> None:
    await bot.command('add signups "Signups" channel #growth every 1h', command="/kpi")
    await bot.command('objective add "Grow"')
    await bot.command('kr add O-1 "Signups per day" from 10 to 50 follows signups')
    bot.clock.now = T0
    await bot.command("record signups 12", command="/kpi")
    bot.clock.now = T0 + timedelta(hours=5)
    await tick(bot.services, bot.clock.now)
    await bot.services.drain()
    heading = heading_of((await bot.command("status")).visible["blocks"], "O-1")
    assert re.search(r":mailbox_with_no_mail: `signups` no data since <!date\^\d+\^", heading)
