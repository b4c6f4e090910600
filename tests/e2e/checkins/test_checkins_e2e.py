"""The weekly check-in cycle end to end: prompts, answers (modal and DM), reminders,
skips and digests, driven through ticks and signed requests, observed on the emulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.runtime.jobs import tick
from storage.models import CheckIn, KeyResult, OutboxMessage, Prompt
from tests.support.harness import Bot
from tests.support.seeding import prompts_to

# Wednesday 25 Nov 2026, 10:00 UTC is when the fixtures' clock starts.
MONDAY_9_MADRID = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # CET = UTC+1
MONDAY_9_NEW_YORK = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # EST = UTC-5
NEXT_MONDAY_9_UTC = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
# The week's digest waits for its last owner (U2 in New York) to close the week.
NEXT_MONDAY_9_NEW_YORK = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


def reminders_to(bot: Bot, user: str) -> list[dict[str, Any]]:
    return [
        m
        for m in bot.slack.messages(f"D{user}")
        if (m.get("metadata") or {}).get("event_payload", {}).get("kind") == "reminder"
    ]


def last_dm(bot: Bot, user: str) -> str:
    return str(bot.slack.messages(f"D{user}")[-1]["text"])


async def setup_okrs(bot: Bot) -> None:
    """O-1 in #growth (C2) owned by U1; KR-1 and KR-2 owned by U1, KR-3 by U2."""
    assert "O-1" in (await bot.command('objective add "Grow" channel #growth')).text
    await bot.command('kr add O-1 "Weekly active teams" from 120 to 200 unit teams')
    await bot.command('kr add O-1 "Launch referral program" boolean')
    await bot.command('kr add O-1 "Churn" from 5 to 3 unit % owner @ben')


async def run_tick(bot: Bot, at: datetime) -> dict[str, int]:
    bot.clock.now = at
    return (await tick(bot.services, at)).done


async def dm(bot: Bot, user: str, text: str, event_id: str | None = None) -> None:
    event = {
        "type": "message",
        "channel": f"D{user}",
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": f"{datetime.now().timestamp():.6f}",
    }
    fields: dict[str, Any] = {"event_id": event_id} if event_id else {}
    response = await bot.sender.event(event, **fields)
    assert response.status == 200


async def check_ins(bot: Bot) -> list[CheckIn]:
    async with bot.services.db.session() as session:
        return list((await session.scalars(select(CheckIn).order_by(CheckIn.id))).all())


async def test_each_owner_is_prompted_once_at_their_local_slot(bot: Bot) -> None:
    await setup_okrs(bot)
    await run_tick(bot, MONDAY_9_MADRID - timedelta(minutes=1))
    assert prompts_to(bot.slack, "U1") == []
    await run_tick(bot, MONDAY_9_MADRID)
    await run_tick(bot, MONDAY_9_MADRID)  # the same instant twice
    await run_tick(bot, MONDAY_9_MADRID + timedelta(minutes=1))
    [prompt] = prompts_to(bot.slack, "U1")
    text = json.dumps(prompt["blocks"])
    assert "KR-1" in text and "KR-2" in text and "KR-3" not in text
    assert "Update all" in text and "Out this week" in text
    assert prompts_to(bot.slack, "U2") == []  # still 09:00 only in Madrid
    await run_tick(bot, MONDAY_9_NEW_YORK)
    [ben] = prompts_to(bot.slack, "U2")
    assert "KR-3" in json.dumps(ben["blocks"])
    assert len(prompts_to(bot.slack, "U1")) == 1


async def test_no_prompt_for_a_slot_before_the_key_result_existed(bot: Bot) -> None:
    bot.clock.now = MONDAY_9_MADRID + timedelta(hours=3)
    await setup_okrs(bot)
    await run_tick(bot, MONDAY_9_MADRID + timedelta(hours=4))
    assert prompts_to(bot.slack, "U1") == []
    await run_tick(bot, MONDAY_9_MADRID + timedelta(days=7))
    assert len(prompts_to(bot.slack, "U1")) == 1


async def test_missed_slot_is_prompted_while_its_period_is_open_not_after(bot: Bot) -> None:
    await setup_okrs(bot)
    # Down over Monday's slot; back on Thursday: the period is still open.
    await run_tick(bot, MONDAY_9_MADRID + timedelta(days=3))
    assert len(prompts_to(bot.slack, "U1")) == 1
    # U2 is down over the whole week: back after the next slot, only that one is sent.
    [ben] = prompts_to(bot.slack, "U2")  # Thursday also covers New York's Monday
    assert ben


async def test_dm_reply_records_and_confirms(bot: Bot) -> None:
    await setup_okrs(bot)
    await run_tick(bot, MONDAY_9_MADRID)
    await dm(bot, "U1", "KR-1 150 at risk: hiring slipped")
    await bot.slack.wait_until(lambda: len(bot.slack.messages("DU1")) >= 2)
    [check_in] = await check_ins(bot)
    assert (check_in.value, check_in.status, check_in.note, check_in.source) == (
        150.0,
        "at_risk",
        "hiring slipped",
        "dm",
    )
    reply = bot.slack.messages("DU1")[-1]
    assert "Recorded" in reply["text"] and "150 teams" in reply["text"]
    # The prompt now shows what was recorded.
    await bot.slack.wait_for("chat.update")
    prompt = bot.slack.messages("DU1")[0]
    assert "Recorded" in json.dumps(prompt["blocks"])
    async with bot.services.db.session() as session:
        kr = await session.scalar(select(KeyResult).where(KeyResult.number == 1))
        prompt_row = await session.scalar(select(Prompt).where(Prompt.user_id == "U1"))
    assert kr is not None and kr.current_value == 150
    # KR-2 is in the prompt too: the prompt is answered only once it has an answer.
    assert prompt_row is not None and prompt_row.answered_at is None
    await dm(bot, "U1", "KR-2 done")
    await bot.slack.wait_until(lambda: len(bot.slack.messages("DU1")) >= 3)
    async with bot.services.db.session() as session:
        prompt_row = await session.scalar(select(Prompt).where(Prompt.user_id == "U1"))
    assert prompt_row is not None and prompt_row.answered_at is not None


async def test_bare_number_needs_exactly_one_pending_key_result(bot: Bot) -> None:
    await setup_okrs(bot)
    await run_tick(bot, MONDAY_9_NEW_YORK)
    await dm(bot, "U1", "42")
    await bot.slack.wait_until(
        lambda: "which key result" in bot.slack.messages("DU1")[-1]["text"].lower()
    )
    assert await check_ins(bot) == []
    await dm(bot, "U2", "4.2")  # U2 has exactly one key result
    await bot.slack.wait_until(lambda: "Recorded" in bot.slack.messages("DU2")[-1]["text"])
    [check_in] = await check_ins(bot)
    assert check_in.value == 4.2
    await dm(bot, "U3", "KR-3 1")  # not theirs, nor their objective
    await bot.slack.wait_until(
        lambda: any("belongs to" in m["text"] for m in bot.slack.messages("DU3"))
    )
    await dm(bot, "U1", "KR-1 lots")
    await bot.slack.wait_until(lambda: "could not read" in bot.slack.messages("DU1")[-1]["text"])
    assert len(await check_ins(bot)) == 1


async def test_retried_event_delivery_is_processed_once(bot: Bot) -> None:
    await setup_okrs(bot)
    await dm(bot, "U1", "KR-1 130", event_id="EvSAME")
    await dm(bot, "U1", "KR-1 130", event_id="EvSAME")
    await bot.slack.wait_until(lambda: len(bot.slack.messages("DU1")) >= 1)
    await bot.sender.event(
        {
            "type": "message",
            "channel": "DU1",
            "channel_type": "im",
            "user": "U1",
            "text": "KR-1 130",
        },
        event_id="EvSAME",
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    assert len(await check_ins(bot)) == 1


async def test_modal_rejects_bad_input_then_stores(bot: Bot) -> None:
    await setup_okrs(bot)
    await run_tick(bot, MONDAY_9_MADRID)
    [prompt] = prompts_to(bot.slack, "U1")
    prompt_id = prompt["metadata"]["event_payload"]["outbox_id"]
    async with bot.services.db.session() as session:
        row = await session.get(OutboxMessage, prompt_id)
        assert row is not None
        real_prompt_id = row.ref_id
    response = await bot.sender.action(
        "checkin_open_all",
        str(real_prompt_id),
        user_id="U1",
        channel_id="DU1",
        message_ts=prompt["ts"],
    )
    assert response.status == 200
    [opened] = await bot.slack.wait_for("views.open")
    view = opened.params["view"]
    metadata = view["private_metadata"]
    bad = await bot.sender.submit_view(
        "checkin_submit",
        {
            "kr1_value": {"value": {"type": "plain_text_input", "value": "abc"}},
            "kr2_value": {"value": {"type": "static_select", "selected_option": {"value": "done"}}},
        },
        user_id="U1",
        private_metadata=metadata,
    )
    assert bad.status == 200
    assert bad.json["response_action"] == "errors"
    assert "kr1_value" in bad.json["errors"]
    assert await check_ins(bot) == []
    good = await bot.sender.submit_view(
        "checkin_submit",
        {
            "kr1_value": {"value": {"type": "plain_text_input", "value": "160"}},
            "kr1_status": {
                "status": {"type": "static_select", "selected_option": {"value": "on_track"}}
            },
            "kr1_confidence": {
                "confidence": {"type": "static_select", "selected_option": {"value": "7"}}
            },
            "kr1_note": {"note": {"type": "plain_text_input", "value": "two deals closed"}},
            "kr2_value": {"value": {"type": "static_select", "selected_option": {"value": "done"}}},
        },
        user_id="U1",
        private_metadata=metadata,
    )
    assert good.status == 200
    assert good.json["response_action"] == "update"  # the modal confirms what was saved
    saved = json.dumps(good.json["view"])
    assert "Check-in saved" in saved and "160 teams" in saved
    stored = await check_ins(bot)
    assert [(c.value, c.status, c.confidence, c.source) for c in stored] == [
        (160.0, "on_track", 7, "modal"),
        (1.0, None, None, "modal"),
    ]
    await bot.slack.wait_for("chat.update")
    assert "All recorded" in json.dumps(bot.slack.messages("DU1")[0]["blocks"])


async def test_reminder_once_and_never_after_an_answer(bot: Bot) -> None:
    await setup_okrs(bot)
    await run_tick(bot, MONDAY_9_MADRID)
    await run_tick(bot, MONDAY_9_NEW_YORK)
    await dm(bot, "U2", "3.9")
    await bot.slack.wait_until(lambda: "Recorded" in bot.slack.messages("DU2")[-1]["text"])
    await run_tick(bot, MONDAY_9_MADRID + timedelta(hours=23, minutes=59))
    assert reminders_to(bot, "U1") == []
    await run_tick(bot, MONDAY_9_MADRID + timedelta(hours=24))
    await run_tick(bot, MONDAY_9_MADRID + timedelta(hours=24))
    await run_tick(bot, MONDAY_9_MADRID + timedelta(hours=48))
    assert len(reminders_to(bot, "U1")) == 1
    await run_tick(bot, MONDAY_9_NEW_YORK + timedelta(hours=25))
    assert reminders_to(bot, "U2") == []


async def test_skip_silences_reminder_and_digest(bot: Bot) -> None:
    await setup_okrs(bot)
    await run_tick(bot, MONDAY_9_NEW_YORK)
    skipped = await bot.command("skip", user="U2")
    assert "skipped" in skipped.text
    await run_tick(bot, MONDAY_9_NEW_YORK + timedelta(hours=30))
    assert reminders_to(bot, "U2") == []
    assert len(reminders_to(bot, "U1")) == 1
    await run_tick(bot, NEXT_MONDAY_9_NEW_YORK)
    [digest] = [m for m in bot.slack.messages("C2") if "digest" in m["text"].lower()]
    body = json.dumps(digest["blocks"])
    assert "Not checked in" in body and "<@U1>" in body and "<@U2>" not in body


async def test_digest_after_the_period_closes(bot: Bot) -> None:
    await setup_okrs(bot)
    await run_tick(bot, MONDAY_9_MADRID)
    await run_tick(bot, MONDAY_9_NEW_YORK)
    await dm(bot, "U1", "KR-1 150 at risk: hiring slipped\nKR-2 done")
    await dm(bot, "U2", "4.5")
    await bot.slack.wait_until(lambda: len(bot.slack.messages("DU2")) >= 2)
    await run_tick(bot, NEXT_MONDAY_9_UTC)  # Madrid's and UTC's week are over, not New York's
    await run_tick(bot, NEXT_MONDAY_9_NEW_YORK - timedelta(minutes=1))
    assert [m for m in bot.slack.messages("C2")] == []
    await run_tick(bot, NEXT_MONDAY_9_NEW_YORK)
    await run_tick(bot, NEXT_MONDAY_9_NEW_YORK + timedelta(minutes=5))
    [digest] = bot.slack.messages("C2")
    body = json.dumps(digest["blocks"])
    assert "O-1 Grow" in body
    assert "120 \\u2192 150 teams" in body or "120 → 150 teams" in body
    assert "hiring slipped" in body
    assert "Everyone checked in" in body
    assert digest["text"]


async def test_checkin_command_opens_the_modal(bot: Bot) -> None:
    await setup_okrs(bot)
    result = await bot.sender.command(
        "/okr", "checkin KR-1", response_url=bot.slack.new_response_url(), user_id="U1"
    )
    assert result.status == 200
    [opened] = await bot.slack.wait_for("views.open")
    assert opened.params["view"]["callback_id"] == "checkin_submit"
    assert "KR-1" in json.dumps(opened.params["view"]["blocks"])
    not_mine = await bot.command("checkin KR-3", user="U3")  # neither owner nor admin
    assert "belongs to" in not_mine.text


async def test_owners_at_the_edges_of_the_clock_are_prompted_at_their_own_nine(bot: Bot) -> None:
    bot.slack.add_user("UKIR", "kiri", tz="Pacific/Kiritimati")  # UTC+14
    bot.slack.add_user("UPAGO", "pago", tz="Pacific/Pago_Pago")  # UTC-11
    await bot.command('objective add "Edges"')
    await bot.command('kr add O-1 "East" from 0 to 1 owner <@UKIR>')
    await bot.command('kr add O-1 "West" from 0 to 1 owner <@UPAGO>')
    # Monday 09:00 in Kiritimati is Sunday 19:00 UTC; in Pago Pago, Monday 20:00 UTC.
    await run_tick(bot, datetime(2026, 11, 29, 18, 59, tzinfo=UTC))
    assert prompts_to(bot.slack, "UKIR") == []
    await run_tick(bot, datetime(2026, 11, 29, 19, 0, tzinfo=UTC))
    assert len(prompts_to(bot.slack, "UKIR")) == 1
    await run_tick(bot, datetime(2026, 11, 30, 19, 59, tzinfo=UTC))
    assert prompts_to(bot.slack, "UPAGO") == []
    await run_tick(bot, datetime(2026, 11, 30, 20, 0, tzinfo=UTC))
    assert len(prompts_to(bot.slack, "UPAGO")) == 1
    assert len(prompts_to(bot.slack, "UKIR")) == 1


async def test_daylight_saving_change_keeps_the_local_slot(bot: Bot) -> None:
    # New York leaves daylight saving on 1 Nov 2026: 09:00 is 13:00 UTC before, 14:00 after.
    bot.clock.now = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
    await setup_okrs(bot)
    await run_tick(bot, datetime(2026, 10, 26, 13, 0, tzinfo=UTC))
    await run_tick(bot, datetime(2026, 11, 2, 13, 0, tzinfo=UTC))
    assert len(prompts_to(bot.slack, "U2")) == 1  # 08:00 local after the change: not yet
    await run_tick(bot, datetime(2026, 11, 2, 14, 0, tzinfo=UTC))
    assert len(prompts_to(bot.slack, "U2")) == 2


async def test_a_channel_can_have_its_own_schedule(bot: Bot) -> None:
    await setup_okrs(bot)  # O-1 reports to #growth (C2) and is owned by U1
    changed = await bot.command("schedule friday 15:00 #growth", user="U1")
    assert "Friday 15:00" in changed.text and "<#C2>" in changed.text
    forbidden = await bot.command("schedule friday 15:00", user="U1")
    assert "only a workspace admin" in forbidden.text.lower()
    shown = await bot.command("schedule #growth")
    assert "Friday 15:00" in shown.text
    await run_tick(bot, datetime(2026, 11, 27, 13, 59, tzinfo=UTC))
    assert prompts_to(bot.slack, "U1") == []
    await run_tick(bot, datetime(2026, 11, 27, 14, 0, tzinfo=UTC))  # Friday 15:00 Madrid
    [prompt] = prompts_to(bot.slack, "U1")
    assert "KR-1" in json.dumps(prompt["blocks"])
    await run_tick(bot, MONDAY_9_MADRID)  # the workspace's Monday slot does not apply to C2
    assert len(prompts_to(bot.slack, "U1")) == 1
    await run_tick(bot, MONDAY_9_NEW_YORK)  # U2's key result is on C2 too
    assert len(prompts_to(bot.slack, "U2")) == 1


async def test_out_this_week_button(bot: Bot) -> None:
    await setup_okrs(bot)
    await run_tick(bot, MONDAY_9_MADRID)
    [prompt] = prompts_to(bot.slack, "U1")
    async with bot.services.db.session() as session:
        row = await session.scalar(select(Prompt).where(Prompt.user_id == "U1"))
        assert row is not None
        prompt_id = row.id
    response = await bot.sender.action(
        "checkin_skip", str(prompt_id), user_id="U1", channel_id="DU1", message_ts=prompt["ts"]
    )
    assert response.status == 200
    await bot.slack.wait_for("chat.update")
    assert "out this week" in json.dumps(bot.slack.messages("DU1")[0]["blocks"])
    await run_tick(bot, MONDAY_9_MADRID + timedelta(hours=30))
    assert reminders_to(bot, "U1") == []
    other = await bot.sender.action(
        "checkin_skip", str(prompt_id), user_id="U2", channel_id="DU1", message_ts=prompt["ts"]
    )
    assert other.status == 200
