"""Slack answering slowly (every Web API call takes 2 s): commands and actions are still
acknowledged within Slack's 3 s, and their follow-ups complete."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.runtime.jobs import tick
from storage.models import OutboxMessage
from tests.support.harness import Bot

SLOW = 2.0
MONDAY_9_MADRID = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


async def test_every_command_and_action_is_acked_in_time_with_slow_slack(bot: Bot) -> None:
    bot.slack.latency = SLOW
    # Commands: the harness asserts each ack took < 3 s, then waits for the reply.
    created = await bot.command('objective add "Grow" channel #growth', timeout=20)
    assert "O-1" in created.text
    await bot.command('kr add O-1 "Weekly active teams" from 120 to 200', timeout=20)
    replies = await asyncio.gather(
        *(bot.command("status", timeout=30) for _ in range(5)),
        bot.command("help"),
    )
    assert all(r.ack.elapsed < 3.0 for r in replies)
    assert all("1 key result" in r.text for r in replies[:5])
    # A prompt goes out (slowly), then its buttons are acknowledged at once.
    bot.clock.now = MONDAY_9_MADRID
    report = await tick(bot.services, MONDAY_9_MADRID)
    assert report.done.get("messages sent") == 1, report.done
    [prompt] = bot.slack.messages("DU1")
    outbox_id = prompt["metadata"]["event_payload"]["outbox_id"]
    async with bot.services.db.session() as session:
        row = await session.get(OutboxMessage, outbox_id)
        assert row is not None and row.ref_id is not None
        prompt_id = row.ref_id
    opened = await bot.sender.action(
        "checkin_open_all", str(prompt_id), user_id="U1", channel_id="DU1", message_ts=prompt["ts"]
    )
    assert opened.status == 200 and opened.elapsed < 3.0, opened.elapsed
    await bot.slack.wait_for("views.open", timeout=15)
    skipped = await bot.sender.action(
        "checkin_skip", str(prompt_id), user_id="U1", channel_id="DU1", message_ts=prompt["ts"]
    )
    assert skipped.status == 200 and skipped.elapsed < 3.0, skipped.elapsed
    await bot.slack.wait_for("chat.update", timeout=15)
