"""What `/okr status` and App Home show, end to end (issue 10): names instead of pings,
one person's key results with counts that match, pace from when a key result began,
yes/no key results as done or not done, and the small words people read.

Signed requests into the real server; what Slack received is read from the emulator.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update

from bot.runtime.jobs import tick
from storage.models import KeyResult
from tests.support.harness import Bot

# The fixtures' clock starts on Wednesday 25 Nov 2026, 10:00 UTC (2026-Q4 began 1 Oct).
MONDAY_9_MADRID = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
MONDAY_9_NEW_YORK = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


def visible_text(message: dict[str, Any]) -> str:
    """Everything a reader sees of a message: its blocks and its fallback text."""
    return json.dumps(message.get("blocks", []), ensure_ascii=False) + str(message.get("text"))


def sections(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]


def key_result_lines(blocks: list[dict[str, Any]]) -> list[str]:
    """`KR-n Title · …` of every key result line of a status reply."""
    lines: list[str] = []
    for text in sections(blocks):
        for line in text.split("\n"):
            if re.match(r":\w+: \*KR-\d+\*", line):
                lines.append(line)
            elif line.startswith("      ") and lines:  # its flags (pace, stale)
                lines[-1] += line
    return lines


async def dm(bot: Bot, user: str, text: str) -> None:
    event = {
        "type": "message",
        "channel": f"D{user}",
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": f"{datetime.now().timestamp():.6f}",
    }
    response = await bot.sender.event(event)
    assert response.status == 200


async def run_tick(bot: Bot, at: datetime) -> None:
    bot.clock.now = at
    await tick(bot.services, at)
    await bot.services.drain()


async def two_owners(bot: Bot) -> None:
    """O-1 (ana) with KR-1, KR-2 (boolean) owned by ana and KR-3 by cleo; O-2 (ben) with
    KR-4 owned by ben and KR-5 by cleo."""
    await bot.command('objective add "Grow" channel #growth', user="U1")
    await bot.command('kr add O-1 "Weekly active teams" from 120 to 200 unit teams', user="U1")
    await bot.command('kr add O-1 "Referral program launched" boolean', user="U1")
    await bot.command('kr add O-1 "Signups" from 0 to 500 owner @cleo', user="U1")
    await bot.command('objective add "Partner API" channel #platform', user="U2")
    await bot.command('kr add O-2 "Partners live" from 0 to 6 unit partners', user="U2")
    await bot.command('kr add O-2 "p95 latency" from 900 to 300 unit ms owner @cleo', user="U2")


async def test_status_in_a_channel_names_people_and_pings_no_one(bot: Bot) -> None:
    await two_owners(bot)
    await run_tick(bot, MONDAY_9_MADRID)
    await dm(bot, "U1", "KR-1 150 at risk: hiring slipped")
    await dm(bot, "U1", "KR-2 done")
    await bot.slack.wait_until(lambda: len(bot.slack.messages("DU1")) >= 3)
    await run_tick(bot, MONDAY_9_NEW_YORK)
    await dm(bot, "U2", "KR-4 1")
    await bot.slack.wait_until(lambda: len(bot.slack.messages("DU2")) >= 2)

    detail = await bot.command("status O-1", channel="C2", user="U2")
    assert detail.visible["response_type"] == "in_channel"
    shown = visible_text(detail.visible)
    assert "<@" not in shown  # history lines and owners: plain names
    history = [line for text in sections(detail.visible["blocks"]) for line in text.split("\n")]
    [teams] = [line for line in history if line.startswith("> ") and "150 teams" in line]
    assert "· at risk · ana — “hiring slipped”" in teams
    [referral] = [line for line in history if line.startswith("> ") and "· done ·" in line]
    assert "· ana" in referral and "· 1 ·" not in referral  # a yes/no key result: done

    by_cleo = await bot.command("status @cleo", channel="C2", user="U1")
    assert "<@" not in visible_text(by_cleo.visible)
    assert "cleo" in by_cleo.visible["blocks"][1]["elements"][0]["text"]  # the scope line

    everything = await bot.command("status all", channel="C2")
    assert "<@" not in visible_text(everything.visible)
    for name in ("ana", "ben", "cleo"):
        assert f"· {name}" in visible_text(everything.visible)


async def test_one_persons_status_lists_their_key_results_and_counts_only_those(
    bot: Bot,
) -> None:
    await two_owners(bot)
    await run_tick(bot, datetime(2026, 11, 30, 0, 0, tzinfo=UTC))  # Monday 09:00 in Tokyo
    await dm(bot, "U3", "KR-3 40 at risk: slow week")
    await bot.slack.wait_until(lambda: len(bot.slack.messages("DU3")) >= 2)
    await run_tick(bot, MONDAY_9_MADRID)
    await dm(bot, "U1", "KR-1 150 off track: outage")  # at risk too, but not cleo's
    await bot.slack.wait_until(lambda: len(bot.slack.messages("DU1")) >= 2)

    mine = await bot.command("status @cleo", channel="C2", user="U1")
    blocks = mine.visible["blocks"]
    lines = key_result_lines(blocks)
    assert [re.search(r"\*KR-(\d+)\*", line).group(1) for line in lines] == ["3", "5"]  # type: ignore[union-attr]
    assert all("· cleo" in line for line in lines)
    summary = blocks[1]["elements"][0]["text"]
    assert "2 objectives · 2 key results" in summary
    assert "1 at risk or off track" in summary  # KR-3; KR-1 is ana's
    assert "2 objectives · 2 key results" in mine.text  # the fallback agrees
    # both objectives are there as context, with their whole progress
    headings = [t for t in sections(blocks) if t.startswith("*O-")]
    assert [h.split("*")[1] for h in headings] == ["O-1 Grow", "O-2 Partner API"]

    ana = await bot.command("status @ana", channel="C2", user="U1")
    assert [
        re.search(r"\*KR-(\d+)\*", line).group(1)  # type: ignore[union-attr]
        for line in key_result_lines(ana.visible["blocks"])
    ] == ["1", "2"]
    assert "1 objective · 2 key results" in ana.text

    me = await bot.command("status @me", channel="C2", user="U3")  # as Home suggests
    assert "2 objectives · 2 key results" in me.text and "cleo" in me.text

    newcomer = await bot.command("status @boss", channel="C2", user="U1")
    assert "boss owns no key results in active objectives" in newcomer.text
    assert "<@" not in visible_text(newcomer.visible)


async def test_pace_counts_from_when_a_key_result_began(bot: Bot) -> None:
    await bot.command('objective add "Grow" cycle 2026-Q4 channel #growth')
    await bot.command('kr add O-1 "Added today" from 0 to 100')
    await bot.command('kr add O-1 "Since the quarter began" from 0 to 100')
    async with bot.services.db.session() as session:
        await session.execute(
            update(KeyResult)
            .where(KeyResult.number == 2)
            .values(created_at=datetime(2026, 9, 20, tzinfo=UTC))
        )
        await session.commit()

    status = await bot.command("status O-1", channel="C2")
    [today, older] = key_result_lines(status.visible["blocks"])
    assert "behind pace" not in today  # added on Nov 25: its line starts today
    assert "60 pts behind pace (expected 60% by now)" in older  # Oct 1 → Nov 25 of Q4
    text = "\n".join(sections(status.visible["blocks"]))
    nov_25 = int(datetime(2026, 11, 25, 10, tzinfo=UTC).timestamp())
    oct_1 = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp())
    sep_20 = int(datetime(2026, 9, 20, tzinfo=UTC).timestamp())
    assert (
        f"_2026-Q4 began <!date^{oct_1}^{{date_short}}|Oct 1> · added "
        f"<!date^{nov_25}^{{date_short}}|Nov 25> · pace counted from "
        f"<!date^{nov_25}^{{date_short}}|Nov 25>_"
    ) in text
    assert (
        f"added <!date^{sep_20}^{{date_short}}|Sep 20> · pace counted from "
        f"<!date^{oct_1}^{{date_short}}|Oct 1>_"
    ) in text

    bot.clock.now = datetime(2026, 12, 25, 10, tzinfo=UTC)  # 30 of its 36.6 days gone
    later = await bot.command("status O-1", channel="C2")
    [today, _] = key_result_lines(later.visible["blocks"])
    assert "82 pts behind pace (expected 82% by now)" in today

    home = await open_home(bot, "U1")
    assert "behind pace (expected 82% by now)" in json.dumps(home["blocks"])


async def open_home(bot: Bot, user: str) -> dict[str, Any]:
    before = len(bot.slack.calls_to("views.publish"))
    response = await bot.sender.event({"type": "app_home_opened", "user": user, "tab": "home"})
    assert response.status == 200
    calls = await bot.slack.wait_for("views.publish", before + 1)
    view: dict[str, Any] = calls[-1].params["view"]
    return view


async def test_a_newcomers_home_says_so_and_offers_a_way_to_start(bot: Bot) -> None:
    home = await open_home(bot, "U3")
    body = json.dumps(home["blocks"], ensure_ascii=False)
    assert "You have no key results yet" in body and "<@" not in body
    [start] = [
        b for b in home["blocks"] if b.get("accessory", {}).get("action_id") == "home_get_started"
    ]
    assert start["accessory"]["text"]["text"] == "How to start"
    before = len(bot.slack.calls_to("views.open"))
    response = await bot.sender.action("home_get_started", "start", view=home, user_id="U3")
    assert response.status == 200
    [opened] = (await bot.slack.wait_for("views.open", before + 1))[before:]
    steps = json.dumps(opened.params["view"]["blocks"])
    assert "/okr objective add" in steps and "/okr kr add O-1" in steps


async def test_home_shows_done_or_not_done_and_singular_units(bot: Bot) -> None:
    await two_owners(bot)
    await run_tick(bot, MONDAY_9_MADRID)
    await dm(bot, "U1", "KR-2 done")
    await bot.slack.wait_until(lambda: len(bot.slack.messages("DU1")) >= 2)
    await run_tick(bot, MONDAY_9_NEW_YORK)
    await dm(bot, "U2", "KR-4 1")
    await bot.slack.wait_until(lambda: len(bot.slack.messages("DU2")) >= 2)
    ana = json.dumps(await open_home(bot, "U1"), ensure_ascii=False)
    assert "*KR-2* Referral program launched\\ndone · 100%" in ana
    assert "KR-2 Referral program launched · done · ana" in ana  # Objectives I own
    ben = json.dumps(await open_home(bot, "U2"), ensure_ascii=False)
    assert "1 partner → 6 partners" in ben and "1 partners" not in ben


async def test_prompt_names_titles_and_hints_with_the_recipients_own_key_result(
    bot: Bot,
) -> None:
    await two_owners(bot)
    await bot.command('kr add O-1 "Page load" range 0..1.5 unit s owner @cleo', user="U1")
    await run_tick(bot, datetime(2026, 11, 30, 0, 0, tzinfo=UTC))  # Monday 09:00 in Tokyo
    [prompt] = bot.slack.messages("DU3")
    assert prompt["text"] == (
        "Your weekly check-in: where do KR-3 Signups, KR-5 p95 latency and KR-6 Page load stand?"
    )
    body = json.dumps(prompt["blocks"], ensure_ascii=False)
    assert "e.g. `KR-3 0` or `KR-3 0 at risk: what changed`" in body
    assert "KR-4" not in body  # ben's, not cleo's
    assert "last 0 → target 500 · 0%" in body
    assert "no value yet · keep within 0–1.5 s" in body and "last no value yet" not in body
    assert bot.slack.messages("DU2") == []  # ben's Monday 09:00 has not come in New York


async def test_values_are_written_as_people_read_them(bot: Bot) -> None:
    await bot.command('objective add "Grow" channel #growth')
    await bot.command('kr add O-1 "Weekly active teams" from 1 to 4 unit teams')
    await run_tick(bot, MONDAY_9_MADRID)
    await dm(bot, "U1", "KR-1 2.1378")
    await bot.slack.wait_until(lambda: len(bot.slack.messages("DU1")) >= 2)
    status = await bot.command("status O-1", channel="C2")
    text = visible_text(status.visible)
    assert "2.14 → 4 teams" in text and "2.138" not in text  # `2.138` reads as 2138 in Berlin
    assert "1 objective" in (await bot.command("status all", channel="C2")).text


async def test_kpi_list_shows_a_neutral_marker_before_any_data(bot: Bot) -> None:
    await bot.command('add signups "Daily signups" every 1h channel #growth', command="/kpi")
    listed = await bot.command("list", command="/kpi")
    [line] = [t for t in sections(listed.visible["blocks"]) if "signups" in t]
    assert line.startswith(":white_circle: *signups*") and "no data yet" in line
    shown = await bot.command("show signups", command="/kpi")
    assert "expects data every hour" in visible_text(shown.visible)
