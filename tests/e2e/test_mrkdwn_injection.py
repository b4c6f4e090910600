"""Issue 11, finding 11: no user string reaches Slack as live mrkdwn.

Objectives, key results, KPIs and notes are named with mention and link syntax, every
view okrbot renders is produced (replies, status, App Home, KPI list/show, the alert
post, its edits, resolved note and reminder, the check-in prompt, its modal and the
digest), and every text and block okrbot sent is searched for the raw syntax.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.runtime.jobs import tick
from tests.support.harness import Bot

HOSTILE = "<!channel> urgent <https://evil.example|click> <@U3> <#C3> &lt;"
RAW = ("<!channel>", "<https://evil.example", "<@U3>", "<#C3>")
QUOTED = HOSTILE.replace('"', "")


def _mrkdwn(value: Any) -> list[str]:
    """Every string Slack parses as mrkdwn inside blocks or a view (plain_text is safe)."""
    if isinstance(value, list):
        return [text for item in value for text in _mrkdwn(item)]
    if not isinstance(value, dict):
        return []
    if value.get("type") == "mrkdwn":
        return [str(value.get("text", ""))]
    return [text for item in value.values() for text in _mrkdwn(item)]


def sent_texts(bot: Bot) -> list[str]:
    """What Slack would render as mrkdwn of everything okrbot sent: message texts (the
    fallback is mrkdwn too) and the mrkdwn parts of blocks, attachments and views."""
    out: list[str] = []
    for call in bot.slack.calls:
        params = call.params
        if isinstance(params.get("text"), str):
            out.append(params["text"])
        for key in ("blocks", "attachments", "view"):
            value = params.get(key)
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    continue
            out.extend(_mrkdwn(value))
    return out


def leaks(bot: Bot) -> list[str]:
    return [text for text in sent_texts(bot) if any(raw in text for raw in RAW)]


async def test_finding_11_user_text_is_escaped_everywhere(bot: Bot) -> None:
    name = f'"{QUOTED}"'
    await bot.command(f"objective add {name} channel #growth", user="U1")
    await bot.command(f"kr add O-1 {name} from 0 to 10 unit u<!here>", user="U1")
    await bot.command(f"add errors {name} max 1 unit <!here> channel #growth", command="/kpi")
    for text in ("status all", "status O-1", "status #growth"):
        await bot.command(text)
    await bot.command("list", command="/kpi")
    await bot.command("show errors", command="/kpi")
    await bot.command("record errors 5 at 2026-11-25T09:00Z", command="/kpi")
    await bot.command('objective add "<!everyone>" owner @ben', user="U1")
    await bot.command('objective add "x" cycle <!channel>', user="U1")  # errors quote input
    await bot.command("record errors <!channel>", command="/kpi")
    await bot.sender.event({"type": "app_home_opened", "user": "U1", "tab": "home"})
    await bot.services.drain()

    # The check-in prompt, its modal, and the digest after the period.
    monday = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 in Madrid
    await tick(bot.services, monday)
    [prompt] = [m for m in bot.slack.messages("U1") if m.get("blocks")]
    button = next(
        e
        for b in prompt["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e.get("action_id", "").startswith("checkin")
    )
    await bot.sender.action(
        button["action_id"], button.get("value", ""), user_id="U1", trigger_id="trig-2"
    )
    await bot.sender.event(
        {
            "type": "message",
            "channel_type": "im",
            "channel": prompt.get("channel", "DU1"),
            "user": "U1",
            "text": f"KR-1 4 at risk: {HOSTILE}",
        }
    )
    await bot.services.drain()
    for hours in (30, 24 * 8):
        await tick(bot.services, monday + timedelta(hours=hours))
    # The alert's later life: edits, a reminder, the resolved note.
    bot.clock.now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    await bot.command("record errors 7", command="/kpi")
    await tick(bot.services, bot.clock.now + timedelta(hours=25))
    bot.clock.now += timedelta(hours=26)
    for value in (0.5, 0.4, 0.3):
        bot.clock.now += timedelta(minutes=1)
        await bot.command(f"record errors {value}", command="/kpi")
    await bot.services.drain()

    texts = sent_texts(bot)
    assert any("&lt;!channel&gt;" in text for text in texts)  # shown, as text
    assert sum("urgent" in text for text in texts) >= 10  # the names did reach Slack
    assert leaks(bot) == []
    kinds = {c.method for c in bot.slack.calls}
    assert {"chat.postMessage", "chat.update", "views.publish", "views.open"} <= kinds, kinds
