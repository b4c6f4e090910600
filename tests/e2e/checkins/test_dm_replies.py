"""DM replies the way people write them, end to end: signed `message` events into
/slack/events, answers read off the Slack emulator, check-ins read from the database."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.runtime.jobs import tick
from storage.models import CheckIn, KeyResult, Prompt
from tests.support.harness import Bot

MONDAY_9_MADRID = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
_ts = itertools.count(1)


def next_ts() -> str:
    return f"1764000000.{next(_ts):06d}"


async def setup_okrs(bot: Bot) -> None:
    """KR-1..KR-4 owned by U1 (ana), KR-5 by U2 (ben), all on O-1 in #growth."""
    assert "O-1" in (await bot.command('objective add "Grow" channel #growth')).text
    await bot.command('kr add O-1 "Weekly active teams" from 120 to 200 unit teams')
    await bot.command('kr add O-1 "Launch referral program" boolean')
    await bot.command('kr add O-1 "p95 latency" from 2.4 to 1.2 unit s')
    added = await bot.command('kr add O-1 "Revenue" from $0 to $50,000 unit USD')
    assert "KR-4" in added.text, added.text
    await bot.command('kr add O-1 "Churn" from 5 to 3 unit % owner @ben')


async def send(bot: Bot, event: dict[str, Any], user: str) -> str:
    """Send one message event and return the single DM okrbot answers with."""
    before = len(bot.slack.messages(f"D{user}"))
    response = await bot.sender.event(event)
    assert response.status == 200, response.text
    await bot.slack.wait_until(
        lambda: len(bot.slack.messages(f"D{user}")) > before,
        describe=lambda: f"an answer to {event!r}",
    )
    messages = bot.slack.messages(f"D{user}")
    assert len(messages) == before + 1, messages[before:]
    return str(messages[-1]["text"])


def message(user: str, text: str, ts: str | None = None) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": f"D{user}",
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": ts or next_ts(),
    }


def edit(user: str, ts: str, text: str, previous: str) -> dict[str, Any]:
    """The `message_changed` event Slack sends when a person edits their DM."""
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": f"D{user}",
        "channel_type": "im",
        "ts": next_ts(),
        "message": {
            "type": "message",
            "user": user,
            "text": text,
            "ts": ts,
            "edited": {"user": user, "ts": next_ts()},
        },
        "previous_message": {"type": "message", "user": user, "text": previous, "ts": ts},
    }


async def dm(bot: Bot, user: str, text: str, ts: str | None = None) -> str:
    return await send(bot, message(user, text, ts), user)


async def check_ins(bot: Bot) -> list[CheckIn]:
    async with bot.services.db.session() as session:
        return list((await session.scalars(select(CheckIn).order_by(CheckIn.id))).all())


async def key_results(bot: Bot) -> dict[int, KeyResult]:
    async with bot.services.db.session() as session:
        return {kr.number: kr for kr in (await session.scalars(select(KeyResult))).all()}


async def last(bot: Bot) -> CheckIn:
    return (await check_ins(bot))[-1]


async def test_the_forms_people_write_are_read(bot: Bot) -> None:
    await setup_okrs(bot)
    cases: list[tuple[str, int, float | None, str | None, str | None]] = [
        # (DM, key result, value, status, note)
        ("KR-1 = 130", 1, 130.0, None, None),
        ("kr1 131", 1, 131.0, None, None),
        ("KR 1: 132 teams", 1, 132.0, None, None),
        ("kr-1 133", 1, 133.0, None, None),
        ("KR-1 24, going well", 1, 24.0, None, "going well"),
        ("KR-1 25 going well", 1, 25.0, None, "going well"),
        ("KR-1 26 - going well", 1, 26.0, None, "going well"),
        ("Weekly act 134, steady", 1, 134.0, None, "steady"),
        ("weekly active teams 135 teams at risk", 1, 135.0, "at_risk", None),
        ("KR-3 1.6 s off track: cache is cold", 3, 1.6, "off_track", "cache is cold"),
        ("KR-3 1,8 s", 3, 1.8, None, None),
        ("p95 1.7s on track", 3, 1.7, "on_track", None),
        ("KR-4 $50,000", 4, 50_000.0, None, None),
        ("KR-4 1.2M", 4, 1_200_000.0, None, None),
        ("KR-4 3k", 4, 3000.0, None, None),
        ("KR-4 50,000", 4, 50_000.0, None, None),
        ("KR-2 done, going well", 2, 1.0, None, "going well"),
        ("KR-2 not done", 2, 0.0, None, None),
        ("Launch yes", 2, 1.0, None, None),
        ("KR-2 no", 2, 0.0, None, None),
    ]
    carried: dict[int, str | None] = {}  # a status not given carries over (README)
    for text, number, value, status, note in cases:
        answer = await dm(bot, "U1", text)
        assert answer.startswith(":white_check_mark: Recorded"), (text, answer)
        assert f"*KR-{number}*" in answer, (text, answer)
        stored = await last(bot)
        krs = await key_results(bot)
        assert stored.key_result_id == krs[number].id, text
        expected_status = status if status is not None else carried.get(number)
        assert (stored.value, stored.status, stored.note) == (value, expected_status, note), text
        assert stored.source == "dm" and stored.author_id == "U1"
        carried[number] = stored.status
    assert len(await check_ins(bot)) == len(cases)
    assert (await key_results(bot))[4].current_value == 50_000.0


async def test_what_the_bot_prints_reads_back_as_what_it_says(bot: Bot) -> None:
    await setup_okrs(bot)
    first = await dm(bot, "U1", "KR-1 150 at risk conf 7: hiring slipped")
    shown = first.split("Weekly active teams · ", 1)[1]
    assert shown == "150 teams · at risk · confidence 7/10 — “hiring slipped”", first
    again = await dm(bot, "U1", f"KR-1 {shown}")
    assert again.split("Weekly active teams · ", 1)[1] == shown
    one, two = (await check_ins(bot))[-2:]
    assert (one.value, one.status, one.confidence, one.note) == (
        two.value,
        two.status,
        two.confidence,
        two.note,
    )


async def test_same_and_no_change_answer_the_prompt_without_a_new_value(bot: Bot) -> None:
    await setup_okrs(bot)
    await dm(bot, "U1", "KR-1 140")
    bot.clock.now = MONDAY_9_MADRID
    await tick(bot.services, MONDAY_9_MADRID)
    answer = await dm(bot, "U1", "KR-1 same\nKR-2 no change")
    assert "no change" in answer and "*KR-1*" in answer and "*KR-2*" in answer, answer
    same, no_change = (await check_ins(bot))[-2:]
    assert (same.no_change, same.value) == (True, 140.0)
    assert (no_change.no_change, no_change.value) == (True, 0.0)  # not done, as it was
    assert same.prompt_id is not None and same.prompt_id == no_change.prompt_id
    assert (await key_results(bot))[1].current_value == 140.0
    async with bot.services.db.session() as session:
        prompt = await session.get(Prompt, same.prompt_id)
        assert prompt is not None and prompt.state == "sent"  # KR-3 and KR-4 still to say
    await dm(bot, "U1", "KR-3 same\nKR-4 no change")
    async with bot.services.db.session() as session:
        prompt = await session.get(Prompt, same.prompt_id)
        assert prompt is not None and prompt.state == "answered"


async def test_same_alone_is_no_change_for_everything_still_pending(bot: Bot) -> None:
    await setup_okrs(bot)
    bot.clock.now = MONDAY_9_MADRID
    await tick(bot.services, MONDAY_9_MADRID)
    await dm(bot, "U1", "KR-1 150")
    answer = await dm(bot, "U1", "same, quiet week")
    assert answer.count("no change") == 3, answer
    stored = await check_ins(bot)
    krs = await key_results(bot)
    assert [(c.key_result_id, c.no_change, c.note) for c in stored] == [
        (krs[1].id, False, None),
        (krs[2].id, True, "quiet week"),
        (krs[3].id, True, "quiet week"),
        (krs[4].id, True, "quiet week"),
    ]
    assert {c.prompt_id for c in stored} == {stored[0].prompt_id}


async def test_a_reply_stores_its_good_lines_and_names_each_bad_one(bot: Bot) -> None:
    await setup_okrs(bot)
    answer = await dm(
        bot, "U1", "KR-1 140\nKR-9 5\nKR-5 3\nKR-2 maybe\nthanks!\nKR-3 1,9 s\nKR-1 1,2,3"
    )
    assert answer.startswith(":white_check_mark: Recorded:"), answer
    recorded, not_recorded = answer.split(":warning:")
    assert "*KR-1*" in recorded and "*KR-3*" in recorded and "*KR-2*" not in recorded
    # KR-5 is ben's, in ana's objective: she may enter it for him (issue 10, on behalf).
    assert "*KR-5*" in recorded and "line 3" not in not_recorded
    assert "line 2 `KR-9 5`: there is no key result KR-9" in not_recorded
    assert "line 4 `KR-2 maybe`: KR-2 is done or not" in not_recorded
    assert "line 5" not in not_recorded  # small talk inside a reply is passed over
    assert "line 7 `KR-1 1,2,3`: KR-1 must be a number" in not_recorded
    stored = await check_ins(bot)
    krs = await key_results(bot)
    assert [(c.key_result_id, c.value, c.author_id, c.entered_by) for c in stored] == [
        (krs[1].id, 140.0, "U1", "U1"),
        (krs[5].id, 3.0, "U2", "U1"),
        (krs[3].id, 1.9, "U1", "U1"),
    ]
    nothing = await dm(bot, "U1", "KR-1 lots\nKR-2 perhaps")
    assert "I could not read that" in nothing and "line 1" in nothing and "line 2" in nothing
    assert "Reply with a value" in nothing
    assert len(await check_ins(bot)) == 3
    # Ben owns neither KR-1 nor its objective: told who may, nothing stored.
    refused = await dm(bot, "U2", "KR-5 4\nKR-1 150")
    assert "line 2 `KR-1 150`: KR-1 belongs to <@U1>: only its owner" in refused, refused
    assert [c.value for c in await check_ins(bot)][-1] == 4.0 and len(await check_ins(bot)) == 4


async def test_an_edited_dm_replaces_what_it_stored(bot: Bot) -> None:
    await setup_okrs(bot)
    ts = next_ts()
    await dm(bot, "U1", "KR-1 140\nKR-3 1.9", ts=ts)
    await dm(bot, "U1", "KR-4 100")  # another message: left alone by the edit
    fixed = await send(bot, edit("U1", ts, "KR-1 145 at risk", "KR-1 140\nKR-3 1.9"), "U1")
    assert fixed.startswith(":white_check_mark: Updated from your edited message"), fixed
    assert "145 teams" in fixed
    krs = await key_results(bot)
    stored = await check_ins(bot)
    assert sorted((c.key_result_id, c.value, c.status) for c in stored) == sorted(
        [(krs[4].id, 100.0, None), (krs[1].id, 145.0, "at_risk")]
    )
    assert krs[1].current_value == 145.0
    assert krs[3].current_value == 2.4  # back to its start: nothing else was recorded
    broken = await send(bot, edit("U1", ts, "KR-1 lots", "KR-1 145 at risk"), "U1")
    assert "took back the check-in it had recorded" in broken, broken
    assert "line 1 `KR-1 lots`: KR-1 needs a number" in broken
    assert [c.value for c in await check_ins(bot)] == [100.0]
    assert (await key_results(bot))[1].current_value == 120.0
    # A link unfurled in the DM changes the message but not its text: nothing to correct.
    unfurled = edit("U1", ts, "KR-1 lots", "KR-1 lots")
    before = len(bot.slack.messages("DU1"))
    assert (await bot.sender.event(unfurled)).status == 200
    await bot.services.drain()
    assert len(bot.slack.messages("DU1")) == before
    # okrbot's own edits (a prompt redrawn) arrive as message_changed too: 200, no answer
    own = edit("U1", next_ts(), "Your weekly check-in", "")
    own["message"]["bot_id"] = "B0OKRBOT"
    before = len(bot.slack.messages("DU1"))
    assert (await bot.sender.event(own)).status == 200
    assert len(bot.slack.messages("DU1")) == before


async def test_an_edited_older_message_keeps_its_time_and_a_later_value_wins(bot: Bot) -> None:
    await setup_okrs(bot)
    first_ts = next_ts()
    await dm(bot, "U1", "KR-1 140", ts=first_ts)
    [first] = await check_ins(bot)
    bot.clock.now += timedelta(hours=2)
    await dm(bot, "U1", "KR-1 150")
    bot.clock.now += timedelta(hours=2)
    fixed = await send(bot, edit("U1", first_ts, "KR-1 141", "KR-1 140"), "U1")
    assert "141 teams" in fixed
    later, replacement = await check_ins(bot)
    assert (later.value, replacement.value) == (150.0, 141.0)
    assert replacement.created_at == first.created_at and replacement.message_ts == first_ts
    assert (await key_results(bot))[1].current_value == 150.0  # the later message still wins


def deleted(user: str, ts: str, previous: str) -> dict[str, Any]:
    """The `message_deleted` event Slack sends when a person deletes their DM."""
    return {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": f"D{user}",
        "channel_type": "im",
        "ts": next_ts(),
        "deleted_ts": ts,
        "previous_message": {"type": "message", "user": user, "text": previous, "ts": ts},
    }


async def test_a_deleted_dm_takes_back_what_it_stored(bot: Bot) -> None:
    await setup_okrs(bot)
    ts = next_ts()
    await dm(bot, "U1", "KR-1 140\nKR-3 1.9", ts=ts)
    await dm(bot, "U1", "KR-4 100")
    answer = await send(bot, deleted("U1", ts, "KR-1 140\nKR-3 1.9"), "U1")
    assert "took back the 2 check-ins" in answer, answer
    assert [c.value for c in await check_ins(bot)] == [100.0]
    krs = await key_results(bot)
    assert (krs[1].current_value, krs[3].current_value) == (120.0, 2.4)
    # Deleting a message that stored nothing (small talk) says nothing.
    quiet = next_ts()
    await dm(bot, "U1", "thanks!", ts=quiet)
    before = len(bot.slack.messages("DU1"))
    assert (await bot.sender.event(deleted("U1", quiet, "thanks!"))).status == 200
    await bot.services.drain()
    assert len(bot.slack.messages("DU1")) == before


async def test_an_edit_redraws_the_prompt_and_reopens_it_when_emptied(bot: Bot) -> None:
    await setup_okrs(bot)
    bot.clock.now = MONDAY_9_MADRID
    await tick(bot.services, MONDAY_9_MADRID)
    ts = next_ts()
    every = "KR-1 150\nKR-2 done\nKR-3 2\nKR-4 100"  # each key result of the prompt
    await dm(bot, "U1", every, ts=ts)
    async with bot.services.db.session() as session:
        [prompt] = (await session.scalars(select(Prompt).where(Prompt.user_id == "U1"))).all()
        assert prompt.state == "answered"
    updates = len(bot.slack.calls_to("chat.update"))
    emptied = await send(bot, edit("U1", ts, "KR-9 150", every), "U1")
    assert "no key result KR-9" in emptied
    await bot.slack.wait_until(lambda: len(bot.slack.calls_to("chat.update")) > updates)
    async with bot.services.db.session() as session:
        reopened = await session.get(Prompt, prompt.id)
        assert reopened is not None and reopened.state == "sent" and reopened.answered_at is None


async def test_small_talk_gets_a_friendly_line_not_an_error(bot: Bot) -> None:
    await setup_okrs(bot)
    for text in ["thanks!", "ok", "thank you", ":+1:", "👍", "Thanks a lot 🙏", "hi", "hello!"]:
        answer = await dm(bot, "U1", text)
        assert "could not" not in answer and "\n" not in answer, (text, answer)
        assert "Hi!" in answer if text.startswith("h") else "welcome" in answer, (text, answer)
    assert "Reply with a value" in await dm(bot, "U1", "help")
    assert await check_ins(bot) == []


async def test_slash_commands_take_the_same_numbers(bot: Bot) -> None:
    assert "O-1" in (await bot.command('objective add "Grow"')).text
    money = await bot.command('kr add O-1 "Revenue" from $0 to $50,000 unit USD')
    assert "KR-1" in money.text, money.text
    big = await bot.command('kr add O-1 "ARR" from 800k to 1.2M')
    assert "KR-2" in big.text, big.text
    krs = await key_results(bot)
    assert (krs[1].start_value, krs[1].target_value) == (0.0, 50_000.0)
    assert (krs[2].start_value, krs[2].target_value) == (800_000.0, 1_200_000.0)
    for text, shown in [("9am", "09:00"), ("9:30am", "09:30"), ("21:00", "21:00")]:
        changed = await bot.command(f"schedule monday {text}", user="UADMIN")
        assert f"Monday {shown}" in changed.text, changed.text
    refused = await bot.command("schedule monday 9", user="UADMIN")
    assert "is not a time" in refused.text
