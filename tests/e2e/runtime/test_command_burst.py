"""A burst of slash commands (issue 12, sustained load): every ack leaves within Slack's
3 s, the follow-up work takes turns (a few reports built at once, not forty, so the acks
are not crowded out), and every reply arrives."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from handlers.commands.slash import FOLLOW_UPS_AT_ONCE
from tests.support.harness import Bot

BURST = 40


async def test_a_burst_of_status_commands_is_acked_at_once_and_answered_in_turns(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    await bot.command('objective add "Grow"')
    await bot.command('kr add O-1 "Weekly active teams" from 120 to 200')
    report = bot.services.status.report
    running, most = 0, 0

    async def slow_report(*args: Any, **kwargs: Any) -> Any:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await asyncio.sleep(0.05)  # a report that takes a while to build
            return await report(*args, **kwargs)
        finally:
            running -= 1

    monkeypatch.setattr(bot.services.status, "report", slow_report)
    replies = await asyncio.gather(*(bot.command("status", timeout=30) for _ in range(BURST)))
    assert all(r.ack.status == 200 and r.ack.elapsed < 3.0 for r in replies)
    assert all(r.reply is not None and "1 key result" in r.visible["text"] for r in replies)
    assert most == FOLLOW_UPS_AT_ONCE, most
