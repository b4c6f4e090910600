"""A distributed team over three weekly periods: each owner's check-ins count for their
own week, the digest waits for the last owner and is updated by a late answer, and a
prompt is answered per key result (a value or an explicit "No change").

Owners in Berlin (U4), New York (U2) and Tokyo (U3); server zone Europe/Berlin;
`/okr schedule monday 09:30`. After 1 Nov 2026 Berlin is UTC+1, New York UTC-5 and
Tokyo UTC+9, so a Monday 09:30 slot is 08:30Z in Berlin, 14:30Z in New York and 00:30Z
(the same Monday) in Tokyo. Everything goes through signed requests and the emulator.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from bot.runtime.jobs import tick
from bot.transfer.yaml_io import load_document
from storage.models import CheckIn, Prompt
from tests.support.harness import Bot, FakeClock, running_bot
from tests.support.slack_emulator import SlackEmulator


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@pytest.fixture
async def team(database_url: str, slack: SlackEmulator, clock: FakeClock) -> AsyncIterator[Bot]:
    slack.add_user("U4", "dora", tz="Europe/Berlin")
    clock.now = datetime(2026, 10, 28, 10, 0, tzinfo=UTC)
    async with running_bot(database_url, slack, clock, okrbot_timezone="Europe/Berlin") as bot:
        assert "Monday 09:30" in (await bot.command("schedule monday 09:30", user="UADMIN")).text
        await bot.command('objective add "Grow" channel #growth', user="U4")
        await bot.command('kr add O-1 "Weekly active teams" from 0 to 100 unit teams', user="U4")
        await bot.command('kr add O-1 "NPS" from 0 to 10 owner @cleo', user="U4")
        await bot.command('kr add O-1 "Churn" from 5 to 3 unit % owner @ben', user="U4")
        await bot.command('objective add "Uptime" channel #growth', user="U3")
        await bot.command('kr add O-2 "Nines" from 0 to 10', user="U3")
        yield bot


async def run_tick(bot: Bot, when: datetime) -> None:
    bot.clock.now = when
    await tick(bot.services, when)


def kind_of(message: dict[str, Any]) -> str | None:
    kind = (message.get("metadata") or {}).get("event_payload", {}).get("kind")
    return str(kind) if kind else None


def dms(bot: Bot, user: str, kind: str) -> list[dict[str, Any]]:
    return [m for m in bot.slack.messages(f"D{user}") if kind_of(m) == kind]


def digests(bot: Bot) -> list[dict[str, Any]]:
    return [m for m in bot.slack.messages("C2") if "digest" in m["text"].lower()]


def digest_lines(message: dict[str, Any]) -> list[str]:
    """The digest's text, line by line (header, sections and footer)."""
    lines: list[str] = []
    for block in message["blocks"]:
        if block["type"] == "header":
            lines.append(block["text"]["text"])
        elif block["type"] == "section":
            lines.extend(block["text"]["text"].split("\n"))
        elif block["type"] == "context":
            lines.extend(element["text"] for element in block["elements"])
    return lines


def action_ids(message: dict[str, Any]) -> set[str]:
    return {
        element["action_id"]
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    }


async def dm(bot: Bot, user: str, text: str, when: datetime) -> None:
    bot.clock.now = when
    before = len(bot.slack.messages(f"D{user}"))
    event = {
        "type": "message",
        "channel": f"D{user}",
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": f"{when.timestamp():.6f}",
    }
    assert (await bot.sender.event(event)).status == 200
    await bot.slack.wait_until(lambda: len(bot.slack.messages(f"D{user}")) > before)
    assert "Recorded" in bot.slack.messages(f"D{user}")[-1]["text"]


async def prompt_of(bot: Bot, user: str, period_start: datetime) -> Prompt:
    async with bot.services.db.session() as session:
        found = await session.scalar(
            select(Prompt).where(Prompt.user_id == user, Prompt.period_start == period_start)
        )
    assert found is not None, (user, period_start)
    return found


async def check_ins(bot: Bot) -> list[CheckIn]:
    async with bot.services.db.session() as session:
        return list((await session.scalars(select(CheckIn).order_by(CheckIn.id))).all())


async def no_change(bot: Bot, user: str, number: int, prompt: Prompt, when: datetime) -> None:
    bot.clock.now = when
    updates = len(bot.slack.calls_to("chat.update"))
    response = await bot.sender.action(
        f"checkin_same:{number}",
        json.dumps({"prompt": prompt.id, "kr": number}),
        user_id=user,
        channel_id=f"D{user}",
        message_ts=prompt.message_ts,
    )
    assert response.status == 200
    await bot.slack.wait_for("chat.update", updates + 1)


async def open_modal(bot: Bot, user: str, number: int, prompt: Prompt) -> str:
    """Press a prompt's Update button; returns the modal's private metadata."""
    opened = len(bot.slack.calls_to("views.open"))
    response = await bot.sender.action(
        f"checkin_open_one:{number}",
        json.dumps({"prompt": prompt.id, "kr": number}),
        user_id=user,
        channel_id=f"D{user}",
        message_ts=prompt.message_ts,
    )
    assert response.status == 200
    calls = await bot.slack.wait_for("views.open", opened + 1)
    return str(calls[-1].params["view"]["private_metadata"])


async def status_lines(bot: Bot, when: datetime) -> list[str]:
    bot.clock.now = when
    result = await bot.command("status", channel="C2", user="U4")
    return json.dumps(result.visible.get("blocks", [])).split("\\n")


def stale(lines: list[str], number: str) -> bool:
    """Whether the status line block of key result `number` flags a missed period."""
    text = "\n".join(lines)
    start = text.find(f"*{number}*")
    assert start >= 0, number
    following = text.find("*KR-", start + 1)
    chunk = text[start : following if following >= 0 else len(text)]
    return "no check-in last period" in chunk


def value_state(number: int, value: str) -> dict[str, Any]:
    return {f"kr{number}_value": {"value": {"type": "plain_text_input", "value": value}}}


async def test_three_zones_over_three_periods(team: Bot) -> None:
    bot = team
    # --- Week of Nov 2 -------------------------------------------------------------------
    await run_tick(bot, at(2, 0, 30))  # Monday 09:30 in Tokyo
    [cat_1] = dms(bot, "U3", "prompt")
    assert "KR-2" in json.dumps(cat_1["blocks"]) and "KR-4" in json.dumps(cat_1["blocks"])
    await dm(bot, "U3", "KR-2 4.6 at risk: survey late\nKR-4 2.4", at(2, 1, 10))
    await run_tick(bot, at(2, 8, 30))  # Berlin
    await run_tick(bot, at(2, 14, 30))  # New York
    await dm(bot, "U4", "KR-1 30", at(3, 9))
    await dm(bot, "U2", "KR-3 4.5 at risk: pricing change", at(4, 10))
    # Tokyo's 01:10Z Monday answer counts for Tokyo's week of Nov 2, not the server's
    # week of Oct 26.
    cat_prompt_1 = await prompt_of(bot, "U3", at(2, 0, 30))
    stored = await check_ins(bot)
    assert [(c.period_start, c.prompt_id) for c in stored[:2]] == [
        (at(2, 0, 30), cat_prompt_1.id)
    ] * 2
    assert cat_prompt_1.answered_at is not None

    # --- Week of Nov 9: the digest of Nov 2 waits for New York ---------------------------
    await run_tick(bot, at(9, 0, 30))
    await no_change(bot, "U3", 2, await prompt_of(bot, "U3", at(9, 0, 30)), at(9, 1, 10))
    cat_2 = await prompt_of(bot, "U3", at(9, 0, 30))
    assert cat_2.answered_at is None  # KR-4 still open
    [cat_2_dm] = [m for m in dms(bot, "U3", "prompt") if m["ts"] == cat_2.message_ts]
    assert "checkin_same:2" not in action_ids(cat_2_dm)
    assert "checkin_same:4" in action_ids(cat_2_dm)
    assert "Recorded no change" in json.dumps(cat_2_dm["blocks"])
    await dm(bot, "U3", "KR-4 5", at(9, 1, 20))
    assert (await prompt_of(bot, "U3", at(9, 0, 30))).answered_at is not None
    await run_tick(bot, at(9, 8, 30))  # Berlin's week is over; New York's is not
    await run_tick(bot, at(9, 14, 29))
    assert digests(bot) == []
    await run_tick(bot, at(9, 14, 30))
    [week_1] = digests(bot)
    assert digest_lines(week_1) == [
        "Weekly OKR digest · week of Nov 2",
        "*O-1 Grow*",
        "`███░░░░░░░` 34% (+34 pts this week)",
        ":white_circle: KR-1 Weekly active teams: 0 → 30 teams",
        ":large_yellow_circle: KR-2 NPS: 0 → 4.6 · at risk — “survey late”",
        ":large_yellow_circle: KR-3 Churn: 5 → 4.5% · at risk — “pricing change”",
        "*O-2 Uptime*",
        "`██░░░░░░░░` 24% (+24 pts this week)",
        ":white_circle: KR-4 Nines: 0 → 2.4",
        ":white_check_mark: Everyone checked in this week.",
    ]

    # Berlin gets one reminder naming only what is missing, then an empty Save is refused.
    await run_tick(bot, at(10, 8, 30))
    [reminder] = dms(bot, "U4", "reminder")
    assert "KR-1" in reminder["text"] and "Still to check in" in json.dumps(reminder["blocks"])
    dora_2 = await prompt_of(bot, "U4", at(9, 8, 30))
    assert dora_2.reminder_ts == reminder["ts"]
    metadata = await open_modal(bot, "U4", 1, dora_2)
    count = len(await check_ins(bot))
    empty = await bot.sender.submit_view(
        "checkin_submit", {}, user_id="U4", private_metadata=metadata
    )
    assert empty.json["response_action"] == "errors"
    assert empty.json["errors"] == {"kr1_value": "Enter a value or choose No change"}
    assert len(await check_ins(bot)) == count
    assert (await prompt_of(bot, "U4", at(9, 8, 30))).answered_at is None
    updates = len(bot.slack.calls_to("chat.update"))
    bot.clock.now = at(10, 9)
    saved = await bot.sender.submit_view(
        "checkin_submit", value_state(1, "45"), user_id="U4", private_metadata=metadata
    )
    assert saved.json["response_action"] == "update"
    assert "45 teams" in json.dumps(saved.json["view"])
    await bot.slack.wait_for("chat.update", updates + 2)  # the prompt and its reminder
    for message in (dms(bot, "U4", "prompt")[-1], dms(bot, "U4", "reminder")[-1]):
        assert "Recorded 45 teams" in json.dumps(message["blocks"])
        assert "checkin_open_one:1" not in action_ids(message)
    await run_tick(bot, at(10, 14, 30))  # Ben's reminder

    # --- Week of Nov 16: Ben answers inside his own week, after Berlin's has closed -------
    await run_tick(bot, at(16, 0, 30))
    await run_tick(bot, at(16, 8, 35))
    assert len(digests(bot)) == 1  # not the week of Nov 9 yet: New York is still in it
    # Status agrees with the digest: Ben is still inside his week of Nov 9, not stale.
    status = await status_lines(bot, at(16, 11))
    assert not [line for line in status if "no check-in last period" in line]
    await dm(bot, "U2", "KR-3 4 on track", at(16, 12))
    assert (await check_ins(bot))[-1].period_start == at(9, 14, 30)
    await run_tick(bot, at(16, 14, 30))
    week_2 = digests(bot)[1]
    assert digest_lines(week_2) == [
        "Weekly OKR digest · week of Nov 9",
        "*O-1 Grow*",
        "`█████░░░░░` 47% (+13 pts this week)",
        ":white_circle: KR-1 Weekly active teams: 30 → 45 teams",
        ":large_yellow_circle: KR-2 NPS · at risk",  # unchanged, still listed
        ":large_green_circle: KR-3 Churn: 4.5 → 4% · on track",
        "*O-2 Uptime*",
        "`█████░░░░░` 50% (+26 pts this week)",
        ":white_circle: KR-4 Nines: 2.4 → 5",
        ":white_check_mark: Everyone checked in this week.",
    ]
    cat_3 = await prompt_of(bot, "U3", at(16, 0, 30))
    await no_change(bot, "U3", 4, cat_3, at(17, 3))
    await dm(bot, "U3", "KR-2 5 on track", at(17, 3, 5))
    await dm(bot, "U4", "KR-1 60", at(17, 9))
    await run_tick(bot, at(23, 0, 30))
    await run_tick(bot, at(23, 8, 30))
    await run_tick(bot, at(23, 14, 30))
    week_3 = digests(bot)[2]
    assert digest_lines(week_3) == [
        "Weekly OKR digest · week of Nov 16",
        "*O-1 Grow*",
        "`█████░░░░░` 53% (+6 pts this week)",
        ":white_circle: KR-1 Weekly active teams: 45 → 60 teams",
        ":large_green_circle: KR-2 NPS: 4.6 → 5 · on track",
        "*O-2 Uptime*",
        "`█████░░░░░` 50% (0 pts this week)",
        ":hourglass: Not checked in this week: <@U2>",
    ]

    status = await status_lines(bot, at(23, 15))
    assert any("53%" in line for line in status)  # as in the digest
    assert [kr for kr in ("KR-1", "KR-2", "KR-3", "KR-4") if stale(status, kr)] == ["KR-3"]

    # A late answer, from last week's prompt after its digest: the digest is updated.
    ben_3 = await prompt_of(bot, "U2", at(16, 14, 30))
    metadata = await open_modal(bot, "U2", 3, ben_3)
    updates = len(bot.slack.calls_to("chat.update"))
    bot.clock.now = at(24, 10)
    late = await bot.sender.submit_view(
        "checkin_submit", value_state(3, "3.5"), user_id="U2", private_metadata=metadata
    )
    assert late.json["response_action"] == "update"
    await bot.slack.wait_until(
        lambda: any(
            call.params.get("channel") == "C2"
            for call in bot.slack.calls_to("chat.update")[updates:]
        )
    )
    assert (await check_ins(bot))[-1].period_start == at(16, 14, 30)
    assert len(digests(bot)) == 3  # updated in place, not moved to the next week
    assert digest_lines(digests(bot)[2]) == [
        "Weekly OKR digest · week of Nov 16",
        "*O-1 Grow*",
        "`██████░░░░` 62% (+15 pts this week)",
        ":white_circle: KR-1 Weekly active teams: 45 → 60 teams",
        ":large_green_circle: KR-2 NPS: 4.6 → 5 · on track",
        ":large_green_circle: KR-3 Churn: 4 → 3.5% · on track · _late check-in_",
        "*O-2 Uptime*",
        "`█████░░░░░` 50% (0 pts this week)",
        ":white_check_mark: Everyone checked in this week.",
    ]


async def test_modal_no_change_and_the_carry_over_rule(bot: Bot) -> None:
    """A "No change" box counts as an answer and keeps the value; status and confidence
    carry over when not given; a value together with No change is a field error."""
    bot.clock.now = at(25, 10)
    await bot.command('objective add "Grow" channel #growth')
    await bot.command('kr add O-1 "Weekly active teams" from 120 to 200 unit teams')
    await bot.command('kr add O-1 "Partners" from 0 to 10')
    await run_tick(bot, at(30, 8))  # Monday 09:00 in Madrid
    await dm(bot, "U1", "KR-1 150 at risk: hiring slipped", at(30, 9))
    prompt = await prompt_of(bot, "U1", at(30, 8))
    metadata = await open_modal(bot, "U1", 2, prompt)
    opened = bot.slack.calls_to("views.open")[-1].params["view"]
    assert "kr2_same" in {block.get("block_id") for block in opened["blocks"]}
    same = {"kr2_same": {"same": {"type": "checkboxes", "selected_options": [{"value": "same"}]}}}
    both = await bot.sender.submit_view(
        "checkin_submit", {**same, **value_state(2, "3")}, user_id="U1", private_metadata=metadata
    )
    assert both.json["response_action"] == "errors"
    assert "not both" in both.json["errors"]["kr2_value"]
    saved = await bot.sender.submit_view(
        "checkin_submit", same, user_id="U1", private_metadata=metadata
    )
    assert "no change" in json.dumps(saved.json["view"])
    assert (await prompt_of(bot, "U1", at(30, 8))).answered_at is not None
    # The modal says what a KR-1 check-in keeps, and a bare value keeps the status.
    metadata = await open_modal(bot, "U1", 1, prompt)
    opened = bot.slack.calls_to("views.open")[-1].params["view"]
    assert "Keeps status _at risk_" in json.dumps(opened["blocks"])
    await dm(bot, "U1", "KR-1 160", at(30, 10))
    rows = await check_ins(bot)
    assert [(c.value, c.status, c.no_change, c.note) for c in rows] == [
        (150.0, "at_risk", False, "hiring slipped"),
        (0.0, None, True, None),
        (160.0, "at_risk", False, None),
    ]
    assert {c.period_start for c in rows} == {at(30, 8)}
    # Export with history keeps each check-in's period and "no change"; so does import.
    exported = await bot.services.transfer.export("T1", with_history=True)
    assert "no_change: true" in exported and "period: '2026-11-30T08:00:00Z'" in exported
    document = load_document(exported, "okrs.yml")
    await bot.services.transfer.import_document("T2", document, bot.clock())
    async with bot.services.db.session() as session:
        copied = list(
            await session.scalars(
                select(CheckIn).where(CheckIn.team_id == "T2").order_by(CheckIn.created_at)
            )
        )
    assert [(c.value, c.period_start, c.no_change) for c in copied] == [
        (c.value, c.period_start, c.no_change) for c in rows
    ]


async def test_reminder_names_only_what_is_missing(bot: Bot) -> None:
    bot.clock.now = at(25, 10)
    await bot.command('objective add "Grow" channel #growth')
    await bot.command('kr add O-1 "Weekly active teams" from 120 to 200 unit teams')
    await bot.command('kr add O-1 "Partners" from 0 to 10')
    await run_tick(bot, at(30, 8))  # Monday 09:00 in Madrid
    await dm(bot, "U1", "KR-1 150", at(30, 9))
    await run_tick(bot, datetime(2026, 12, 1, 8, tzinfo=UTC))
    [reminder] = dms(bot, "U1", "reminder")
    assert reminder["text"] == "Reminder: your weekly check-in: where does KR-2 Partners stand?"
    body = json.dumps(reminder["blocks"])
    assert "Still to check in: *KR-2* Partners" in body and "Recorded 150 teams" in body
    assert action_ids(reminder) >= {"checkin_open_one:2", "checkin_same:2"}
    assert not action_ids(reminder) & {"checkin_open_one:1", "checkin_same:1"}
    # "No change" from the reminder answers the prompt; both DMs show it.
    prompt = await prompt_of(bot, "U1", at(30, 8))
    assert prompt.reminder_ts == reminder["ts"]
    await no_change(bot, "U1", 2, prompt, datetime(2026, 12, 1, 9, tzinfo=UTC))
    await bot.slack.wait_until(
        lambda: "All recorded" in json.dumps(dms(bot, "U1", "reminder")[0]["blocks"])
    )
    assert "All recorded" in json.dumps(dms(bot, "U1", "prompt")[0]["blocks"])
    assert (await prompt_of(bot, "U1", at(30, 8))).answered_at is not None
