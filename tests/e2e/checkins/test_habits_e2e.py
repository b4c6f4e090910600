"""Habits of real teams (issue 10) end to end: checking in on someone's behalf, a DM to a
new key-result owner, time away, and escalation after missed periods — through signed
requests and ticks, observed on the Slack emulator and in the database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.core.schedule import WEEK
from storage.models import CheckIn, Prompt
from tests.e2e.checkins.test_checkins_e2e import (
    MONDAY_9_MADRID,
    MONDAY_9_NEW_YORK,
    NEXT_MONDAY_9_UTC,
    check_ins,
    dm,
    run_tick,
    setup_okrs,
)
from tests.support.harness import Bot
from tests.support.seeding import prompts_to


async def submit_checkin(bot: Bot, user: str, number: int, value: str) -> Any:
    """Open `/okr checkin KR-n` as `user` and save `value` in the modal it opened."""
    opened_before = len(bot.slack.calls_to("views.open"))
    ack = await bot.sender.command(
        "/okr", f"checkin KR-{number}", response_url=bot.slack.new_response_url(), user_id=user
    )
    assert ack.status == 200
    await bot.slack.wait_until(lambda: len(bot.slack.calls_to("views.open")) > opened_before)
    view = bot.slack.calls_to("views.open")[-1].params["view"]
    return await bot.sender.submit_view(
        "checkin_submit",
        {f"kr{number}_value": {"value": {"type": "plain_text_input", "value": value}}},
        user_id=user,
        private_metadata=view["private_metadata"],
    )


def last_text(bot: Bot, user: str) -> str:
    messages = bot.slack.messages(f"D{user}")
    return str(messages[-1]["text"]) if messages else ""


def shown(bot: Bot, user: str, ts: str) -> dict[str, Any]:
    """The DM with this ts as it reads now (after any edits)."""
    [message] = [m for m in bot.slack.messages(f"D{user}") if m["ts"] == ts]
    return message


async def prompt_of(bot: Bot, user: str) -> Prompt:
    async with bot.services.db.session() as session:
        found = await session.scalar(
            select(Prompt).where(Prompt.user_id == user).order_by(Prompt.period_start.desc())
        )
    assert found is not None
    return found


# On behalf ---------------------------------------------------------------------------------


async def test_admin_checks_in_on_behalf_from_the_modal(bot: Bot) -> None:
    await setup_okrs(bot)  # KR-3 is Ben's (U2), under Ana's (U1) O-1
    await run_tick(bot, MONDAY_9_NEW_YORK)
    saved = await submit_checkin(bot, "UADMIN", 3, "4.1")
    assert saved.status == 200 and saved.json is not None
    assert saved.json["response_action"] == "update"  # the modal confirms the save
    assert "(for <@U2>)" in json.dumps(saved.json["view"])
    [check_in] = await check_ins(bot)
    assert (check_in.value, check_in.author_id, check_in.entered_by, check_in.source) == (
        4.1,
        "U2",
        "UADMIN",
        "modal",
    )
    # Ben's own prompt shows what was recorded for him.
    [ben_prompt] = prompts_to(bot.slack, "U2")
    await bot.slack.wait_until(
        lambda: "Recorded" in json.dumps(shown(bot, "U2", ben_prompt["ts"])["blocks"])
    )
    # It answers Ben's prompt (no reminder for him), not one of the admin's.
    assert (await prompt_of(bot, "U2")).answered_at is not None
    assert check_in.prompt_id == (await prompt_of(bot, "U2")).id
    status = await bot.command("status O-1", user="U3")
    history = json.dumps(status.visible["blocks"])
    assert "entered by boss" in history
    assert "4.1" in history


async def test_objective_owner_checks_in_on_behalf_by_dm(bot: Bot) -> None:
    await setup_okrs(bot)
    await dm(bot, "U1", "KR-3 3.8 at risk: Ben is out, numbers from the meeting")
    await bot.slack.wait_until(lambda: "Recorded" in last_text(bot, "U1"))
    assert "(for <@U2>)" in last_text(bot, "U1")
    [check_in] = await check_ins(bot)
    assert (check_in.value, check_in.status, check_in.author_id, check_in.entered_by) == (
        3.8,
        "at_risk",
        "U2",
        "U1",
    )
    # Their own check-in is entered by themselves.
    await dm(bot, "U2", "KR-3 3.7")
    await bot.slack.wait_until(lambda: "Recorded" in last_text(bot, "U2"))
    own = (await check_ins(bot))[-1]
    assert (own.author_id, own.entered_by) == ("U2", "U2")
    detail = json.dumps((await bot.command("status O-1")).visible["blocks"])
    assert detail.count("entered by") == 1


async def test_others_are_refused_and_nothing_is_stored(bot: Bot) -> None:
    await setup_okrs(bot)
    refused = await bot.command("checkin KR-3", user="U3")
    assert refused.ephemeral
    assert "only its owner, the owner of its objective or a workspace admin" in refused.text
    assert bot.slack.calls_to("views.open") == []
    await dm(bot, "U3", "KR-3 9")
    await bot.slack.wait_until(lambda: "belongs to" in last_text(bot, "U3"))
    # A forged modal submission for someone else's key result gets a field error.
    forged = await bot.sender.submit_view(
        "checkin_submit",
        {"kr3_value": {"value": {"type": "plain_text_input", "value": "9"}}},
        user_id="U3",
        private_metadata=json.dumps({"prompt": None, "krs": [3]}),
    )
    assert forged.json["response_action"] == "errors"
    assert await check_ins(bot) == []


# A DM to a new owner ------------------------------------------------------------------------


def sent_of_kind(bot: Bot, user: str, kind: str) -> list[dict[str, Any]]:
    return [
        m
        for m in bot.slack.messages(f"D{user}")
        if (m.get("metadata") or {}).get("event_payload", {}).get("kind") == kind
    ]


async def test_a_new_owner_is_told_what_it_is_and_when_they_will_be_asked(bot: Bot) -> None:
    await bot.command('objective add "Grow" channel #growth')  # Ana (U1), Wed Nov 25
    await bot.command('kr add O-1 "Churn" from 5 to 3 unit % owner @ben')
    await run_tick(bot, bot.clock.now)  # the server's delivery sweep does it within seconds
    assert len(sent_of_kind(bot, "U2", "assigned")) == 1
    [told] = sent_of_kind(bot, "U2", "assigned")
    body = json.dumps(told["blocks"])
    assert "<@U1> made you the owner of *KR-1* Churn" in body
    assert "*O-1* Grow" in body and "from 5 to 3%" in body
    # Monday 09:00 in New York, shown in the reader's own zone by Slack.
    assert "every Monday 09:00 your time" in body
    assert f"<!date^{int(MONDAY_9_NEW_YORK.timestamp())}^" in body
    assert "Mon Nov 30 at 09:00" in body  # the fallback, in Ben's zone
    assert "KR-1 Churn" in told["text"]
    # Adding one's own key result tells nobody; handing one over tells the new owner.
    await bot.command('kr add O-1 "Mine" from 0 to 10')
    await bot.command("kr edit KR-2 owner @cleo")
    await run_tick(bot, bot.clock.now)
    assert len(sent_of_kind(bot, "U3", "assigned")) == 1
    cleo = json.dumps(sent_of_kind(bot, "U3", "assigned")[0]["blocks"])
    tokyo_monday = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # 09:00 JST
    assert "*KR-2* Mine" in cleo and f"<!date^{int(tokyo_monday.timestamp())}^" in cleo
    # Naming the same owner again is no change: no second DM.
    await bot.command("kr edit KR-1 owner @ben")
    await run_tick(bot, bot.clock.now)
    assert len(sent_of_kind(bot, "U2", "assigned")) == 1
    assert sent_of_kind(bot, "U1", "assigned") == []


# Away ---------------------------------------------------------------------------------------


async def test_away_skips_prompts_and_reminders_and_shows_in_the_digest(bot: Bot) -> None:
    await setup_okrs(bot)
    for bad, said in (
        ("away until 2026-11-01", "in the past"),
        ("away 24/12/2026", "not a date like `2026-12-24`"),
        ("away until", "give the last day you are away"),
    ):
        refused = await bot.command(bad, user="U2")
        assert refused.ephemeral and said.lower() in refused.text.lower(), (bad, refused.text)
    gone = await bot.command("away until 2026-12-01", user="U2")
    assert gone.ephemeral and "away until *Tue Dec 1*" in gone.text
    await run_tick(bot, MONDAY_9_MADRID)
    await run_tick(bot, MONDAY_9_NEW_YORK)
    assert len(prompts_to(bot.slack, "U1")) == 1
    assert prompts_to(bot.slack, "U2") == []
    assert (await prompt_of(bot, "U2")).state == "away"
    await run_tick(bot, MONDAY_9_NEW_YORK + timedelta(hours=30))
    assert sent_of_kind(bot, "U2", "reminder") == []
    assert len(sent_of_kind(bot, "U1", "reminder")) == 1
    # The digest waits for the last owner's week to close (Ben's, in New York).
    await run_tick(bot, NEXT_MONDAY_9_UTC + timedelta(hours=5, minutes=1))
    [digest] = [m for m in bot.slack.messages("C2") if "digest" in m["text"].lower()]
    body = json.dumps(digest["blocks"])
    assert "ben away until Dec 1" in body
    assert "Not checked in this week: <@U1>" in body and "<@U2>" not in body
    # The absence is over: the next week's slot is prompted as usual.
    await run_tick(bot, NEXT_MONDAY_9_UTC + timedelta(hours=5))
    assert len(prompts_to(bot.slack, "U2")) == 1


async def test_going_away_mid_week_and_back_early(bot: Bot) -> None:
    await setup_okrs(bot)
    await run_tick(bot, MONDAY_9_NEW_YORK)
    [prompt] = prompts_to(bot.slack, "U2")
    updates = len(bot.slack.calls_to("chat.update"))
    await bot.command("away until 2026-12-20", user="U2")
    await bot.slack.wait_until(lambda: len(bot.slack.calls_to("chat.update")) > updates)
    assert "out this week" in json.dumps(shown(bot, "U2", prompt["ts"])["blocks"])
    await run_tick(bot, MONDAY_9_NEW_YORK + timedelta(hours=30))
    assert sent_of_kind(bot, "U2", "reminder") == []
    updates = len(bot.slack.calls_to("chat.update"))
    back = await bot.command("back", user="U2")
    assert "Welcome back" in back.text and "open again" in back.text
    await bot.slack.wait_until(lambda: len(bot.slack.calls_to("chat.update")) > updates)
    assert "Update all" in json.dumps(shown(bot, "U2", prompt["ts"])["blocks"])
    assert (await prompt_of(bot, "U2")).state == "sent"
    assert "not away" in (await bot.command("back", user="U2")).text
    assert len(prompts_to(bot.slack, "U2")) == 1


async def test_back_before_an_unsent_prompt_gets_it_sent(bot: Bot) -> None:
    await setup_okrs(bot)
    await bot.command("away until 2026-12-10", user="U2")
    await run_tick(bot, MONDAY_9_NEW_YORK)
    assert prompts_to(bot.slack, "U2") == []
    back = await bot.command("back", user="U2")
    assert "on its way" in back.text
    await run_tick(bot, MONDAY_9_NEW_YORK + timedelta(minutes=1))
    assert len(prompts_to(bot.slack, "U2")) == 1


# Escalation ---------------------------------------------------------------------------------


async def test_escalation_dms_the_objective_owner_once_per_streak(bot: Bot) -> None:
    await setup_okrs(bot)  # KR-3 is Ben's, under Ana's O-1
    refused = await bot.command("schedule escalate 2", user="U1")
    assert refused.ephemeral and "Only a workspace admin" in refused.text
    bad = await bot.command("schedule escalate lots", user="UADMIN")
    assert "from 1 to 12" in bad.text
    on = await bot.command("schedule escalate 2", user="UADMIN")
    assert "After *2 missed check-ins in a row*" in on.text
    assert "After *2 missed in a row*" in (await bot.command("schedule")).text
    helped = (await bot.command("help")).text
    assert "/okr away until 2026-12-24" in helped and "/okr schedule escalate" in helped

    def escalations() -> list[dict[str, Any]]:
        return sent_of_kind(bot, "U1", "escalation")

    # Ben misses Nov 30 and Dec 7 (Ana answers hers, and is not escalated about).
    for week in range(2):
        await run_tick(bot, MONDAY_9_NEW_YORK + week * WEEK)
        await dm(bot, "U1", f"KR-1 {130 + week}")
        await bot.slack.wait_until(lambda: "Recorded" in last_text(bot, "U1"))
        assert escalations() == []
    await run_tick(bot, MONDAY_9_NEW_YORK + 2 * WEEK)  # Dec 7's period has closed
    [told] = escalations()
    body = json.dumps(told["blocks"])
    assert "*KR-3* Churn" in body and "<@U2>" in body and "2 periods in a row" in body
    assert "week of Nov 30" in body and "/okr checkin KR-3" in body
    await run_tick(bot, MONDAY_9_NEW_YORK + 3 * WEEK)  # a third miss: the same streak
    await run_tick(bot, MONDAY_9_NEW_YORK + 3 * WEEK + timedelta(hours=1))
    assert len(escalations()) == 1
    assert sent_of_kind(bot, "U2", "escalation") == []
    # Ben answers Dec 21's; then misses two more: a new streak, one more DM.
    await dm(bot, "U2", "4.4")
    await bot.slack.wait_until(lambda: "Recorded" in last_text(bot, "U2"))
    for week in (4, 5):
        await run_tick(bot, MONDAY_9_NEW_YORK + week * WEEK)
    assert len(escalations()) == 1
    await run_tick(bot, MONDAY_9_NEW_YORK + 6 * WEEK)
    assert len(escalations()) == 2
    async with bot.services.db.session() as session:
        answered = await session.scalars(select(CheckIn).where(CheckIn.author_id == "U2"))
        assert len(answered.all()) == 1


async def test_escalation_is_off_by_default(bot: Bot) -> None:
    await setup_okrs(bot)
    for week in range(4):
        await run_tick(bot, MONDAY_9_NEW_YORK + week * WEEK)
    assert sent_of_kind(bot, "U1", "escalation") == []
