"""Habits of real teams (issue 10) end to end: checking in on someone's behalf, a DM to a
new key-result owner, time away, and escalation after missed periods — through signed
requests and ticks, observed on the Slack emulator and in the database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from storage.models import CheckIn, Prompt
from tests.e2e.checkins.test_checkins_e2e import (
    MONDAY_9_NEW_YORK,
    check_ins,
    dm,
    prompts_to,
    run_tick,
    setup_okrs,
)
from tests.support.harness import Bot


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
    assert saved.status == 200 and not saved.text
    [check_in] = await check_ins(bot)
    assert (check_in.value, check_in.author_id, check_in.entered_by, check_in.source) == (
        4.1,
        "U2",
        "UADMIN",
        "modal",
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


async def _unused(*_: object) -> None:  # keeps imports used until the other tests land
    _ = (datetime, timedelta, UTC, CheckIn, prompts_to)
