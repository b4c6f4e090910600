"""App Home as people use it: what each viewer sees, its buttons, its settings modal, the
shortcuts, and re-publishing after changes that touch the viewer."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from bot.blocks.home import MAX_HOME_BLOCKS
from bot.runtime.jobs import tick
from tests.support.harness import Bot
from tests.support.seeding import seed_portfolio
from tests.support.slack_requests import shortcut


async def open_home(bot: Bot, user: str) -> dict[str, Any]:
    before = len(bot.slack.calls_to("views.publish"))
    response = await bot.sender.event({"type": "app_home_opened", "user": user, "tab": "home"})
    assert response.status == 200
    calls = await bot.slack.wait_for("views.publish", before + 1)
    view: dict[str, Any] = calls[-1].params["view"]
    assert calls[-1].params["user_id"] == user
    return view


async def next_publish(bot: Bot, user: str, before: int) -> dict[str, Any]:
    await bot.slack.wait_until(
        lambda: any(
            c.params.get("user_id") == user for c in bot.slack.calls_to("views.publish")[before:]
        ),
        timeout=10,
        describe=lambda: f"a views.publish for {user}",
    )
    mine = [c for c in bot.slack.calls_to("views.publish")[before:] if c.params["user_id"] == user]
    view: dict[str, Any] = mine[-1].params["view"]
    return view


def text_of(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def section_of(view: dict[str, Any], title: str) -> str:
    """The blocks between one header and the next, as text."""
    out: list[dict[str, Any]] = []
    inside = False
    for block in view["blocks"]:
        if block["type"] == "header":
            inside = block["text"]["text"].startswith(title)
            continue
        if inside:
            out.append(block)
    return json.dumps(out, ensure_ascii=False)


def action_ids(view: dict[str, Any]) -> list[str]:
    ids = []
    for block in view["blocks"]:
        if block.get("accessory", {}).get("action_id"):
            ids.append(block["accessory"]["action_id"])
        for element in block.get("elements", []):
            if element.get("action_id"):
                ids.append(element["action_id"])
    return ids


async def seed(bot: Bot) -> None:
    """Key results made on a Wednesday; then Monday's slot passes and the tick prompts."""
    await bot.command('objective add "Grow teams" channel #general', user="U1")
    await bot.command('kr add O-1 "Weekly active teams" from 10 to 20 unit teams', user="U1")
    await bot.command('kr add O-1 "Monthly churn" from 5 to 3 unit % owner @ben', user="U1")
    await bot.command('objective add "Partner API" channel #platform', user="U2")
    await bot.command('kr add O-2 "Docs published" boolean owner @ana', user="U2")
    await tick(bot.services, bot.clock.advance(days=5, hours=6))  # Monday 30 Nov, 16:00 UTC
    await bot.services.drain()


async def test_each_viewer_sees_what_is_due_theirs_and_what_they_own(bot: Bot) -> None:
    await seed(bot)
    ana = await open_home(bot, "U1")
    due = section_of(ana, "Due now")
    assert "KR-1" in due and "KR-3" in due and "KR-2" not in due
    assert {"home_update:1", "home_update:3", "home_update_all", "home_skip"} <= set(
        action_ids(ana)
    )
    mine = section_of(ana, "My key results")
    assert "Weekly active teams" in mine and "Docs published" in mine and "churn" not in mine
    owned = section_of(ana, "Objectives I own")
    assert "O-1" in owned and "Monthly churn · 0% · ben" in owned
    assert "O-2" not in owned
    assert "Workspace settings" not in text_of(ana)  # not an admin
    ben = await open_home(bot, "U2")
    assert "O-2" in section_of(ben, "Objectives I own")
    assert "KR-2" in section_of(ben, "Due now")
    boss = await open_home(bot, "UADMIN")
    assert "Monday 09:00" in section_of(boss, "Workspace settings")
    assert "home_settings" in action_ids(boss)


async def test_a_key_result_made_this_period_is_due_from_the_next_slot(bot: Bot) -> None:
    await bot.command('objective add "Grow teams"', user="U1")
    await bot.command('kr add O-1 "Weekly active teams" from 10 to 20', user="U1")
    home = await open_home(bot, "U1")
    assert "Nothing due" in section_of(home, "Due now")
    assert "KR-1" in section_of(home, "My key results")


async def test_a_check_in_from_home_updates_it_and_its_prompt_counts(bot: Bot) -> None:
    await seed(bot)
    await open_home(bot, "U1")
    home = bot.slack.home_view("U1")
    assert home is not None
    before = len(bot.slack.calls_to("views.open"))
    response = await bot.sender.action("home_update:1", "1", view=home, user_id="U1")
    assert response.status == 200
    [opened] = (await bot.slack.wait_for("views.open", before + 1))[before:]
    modal = opened.params["view"]
    assert json.loads(modal["private_metadata"])["krs"] == [1]
    published = len(bot.slack.calls_to("views.publish"))
    state = {"kr1_value": {"value": {"type": "plain_text_input", "value": "14"}}}
    response = await bot.sender.submit_view(
        "checkin_submit", state, private_metadata=modal["private_metadata"], user_id="U1"
    )
    assert response.status == 200
    assert "Check-in saved" in json.dumps(response.json["view"])  # every save is confirmed
    after = await next_publish(bot, "U1", published)
    assert "KR-1" not in section_of(after, "Due now")
    assert "14 teams" in section_of(after, "My key results")
    prompt_id = json.loads(modal["private_metadata"])["prompt"]
    assert prompt_id is not None  # counted for this week's prompt, whose DM is refreshed
    await bot.slack.wait_for("chat.update")


async def test_update_all_opens_the_due_key_results_and_out_this_week_skips(bot: Bot) -> None:
    await seed(bot)
    home = await open_home(bot, "U1")
    stored = bot.slack.home_view("U1")
    await bot.sender.action("home_update_all", "due", view=stored, user_id="U1")
    [opened] = await bot.slack.wait_for("views.open")
    assert json.loads(opened.params["view"]["private_metadata"])["krs"] == [1, 3]
    published = len(bot.slack.calls_to("views.publish"))
    await bot.sender.action("home_skip", "skip", view=stored, user_id="U1")
    after = await next_publish(bot, "U1", published)
    assert "out this week" in section_of(after, "Due now")
    assert "home_skip" not in action_ids(after) and "home_skip" in action_ids(home)


async def test_home_stays_within_100_blocks_and_shows_more_on_demand(bot: Bot) -> None:
    await bot.command("help", user="U1")  # the workspace exists
    last_week = bot.clock.now - timedelta(days=7)
    await seed_portfolio(bot.services.db, "T1", "U1", last_week, objectives=30)
    home = await open_home(bot, "U1")
    assert len(home["blocks"]) <= MAX_HOME_BLOCKS
    assert {"home_more:due", "home_more:mine", "home_more:owned"} <= set(action_ids(home))
    shown = section_of(home, "My key results").count("home_update:")
    for _ in range(12):  # far past what fits: it never breaks the limit
        stored = bot.slack.home_view("U1")
        published = len(bot.slack.calls_to("views.publish"))
        await bot.sender.action("home_more:mine", "mine", view=stored, user_id="U1")
        home = await next_publish(bot, "U1", published)
        assert len(home["blocks"]) <= MAX_HOME_BLOCKS
    assert section_of(home, "My key results").count("home_update:") > shown
    bot.slack.assert_no_invalid_payloads()


async def test_open_alerts_show_in_my_channels_and_for_my_kpis_with_acknowledge(
    bot: Bot,
) -> None:
    bot.slack.add_channel("C2", "growth", members=["U1", "UBOT"])
    await bot.command(
        'add signup_rate "Signup conversion" min 2 max 5 channel #growth', user="U2", command="/kpi"
    )
    ana = await open_home(bot, "U1")
    assert "No open alert" in section_of(ana, "Open KPI alerts")
    published = len(bot.slack.calls_to("views.publish"))
    await bot.command("record signup_rate 9", user="U2", command="/kpi")
    await bot.slack.wait_for("chat.postMessage")
    await bot.services.drain()
    assert await bot.services.home.refresh_all() == 1  # ana's changed; ben never opened his
    ana = await next_publish(bot, "U1", published)
    alerts = section_of(ana, "Open KPI alerts")
    assert "Signup conversion" in alerts and "alert_ack" in alerts
    ben = await open_home(bot, "U2")  # the KPI's owner, not in #growth
    assert "Signup conversion" in section_of(ben, "Open KPI alerts")
    cleo = await open_home(bot, "U3")  # neither
    assert "No open alert" in section_of(cleo, "Open KPI alerts")
    alert_id = json.loads(alerts.split('"action_id": "alert_ack", "value": ')[1].split("}")[0])
    published = len(bot.slack.calls_to("views.publish"))
    await bot.sender.action(
        "alert_ack", str(alert_id), view=bot.slack.home_view("U1"), user_id="U1"
    )
    ana = await next_publish(bot, "U1", published)
    assert "acknowledged" in section_of(ana, "Open KPI alerts")
    assert "alert_ack" not in section_of(ana, "Open KPI alerts")


async def test_admins_change_the_schedule_from_home_with_field_errors(bot: Bot) -> None:
    await seed(bot)
    await open_home(bot, "U1")
    await bot.sender.action(
        "home_settings", "settings", view=bot.slack.home_view("U1"), user_id="U1"
    )
    await bot.slack.wait_for("views.publish", 2)
    assert bot.slack.calls_to("views.open") == []  # not an admin: no modal
    await open_home(bot, "UADMIN")
    await bot.sender.action(
        "home_settings", "settings", view=bot.slack.home_view("UADMIN"), user_id="UADMIN"
    )
    [opened] = await bot.slack.wait_for("views.open")
    assert opened.params["view"]["callback_id"] == "home_settings_submit"

    def state(day: str, time: str, reminder: str = "24") -> dict[str, Any]:
        option = {"text": {"type": "plain_text", "text": day}, "value": day}
        return {
            "weekday": {"weekday": {"type": "static_select", "selected_option": option}},
            "time": {"time": {"type": "plain_text_input", "value": time}},
            "reminder": {"hours": {"type": "number_input", "value": reminder}},
            "digest": {"hours": {"type": "number_input", "value": "0"}},
            "escalation": {"hours": {"type": "number_input", "value": "24"}},
        }

    bad = await bot.sender.submit_view(
        "home_settings_submit", state("4", "25:00"), user_id="UADMIN"
    )
    assert bad.json == {
        "response_action": "errors",
        "errors": {"time": "25:00 is not a time like 09:00 (24-hour)."},
    }
    async with bot.services.db.team("T1") as store:
        assert await store.prompts.schedule() is None  # nothing stored
    published = len(bot.slack.calls_to("views.publish"))
    bad = await bot.sender.submit_view(
        "home_settings_submit", state("4", "15:30", reminder="0"), user_id="UADMIN"
    )
    assert bad.json["errors"] == {
        "reminder": "The reminder delay must be more than 0 and at most 144 hours."
    }
    good = await bot.sender.submit_view(
        "home_settings_submit", state("4", "15:30", reminder="2.5"), user_id="UADMIN"
    )
    assert good.status == 200 and not good.text
    home = await next_publish(bot, "UADMIN", published)
    assert "Friday 15:30" in section_of(home, "Workspace settings")
    assert "reminder after *2.5 h*" in section_of(home, "Workspace settings")
    async with bot.services.db.team("T1") as store:
        workspace = await store.workspace.get()
        assert workspace is not None and workspace.reminder_hours == 2.5
    refused = await bot.sender.submit_view(
        "home_settings_submit", state("4", "10:00"), user_id="U1"
    )
    assert refused.json["response_action"] == "errors"
    assert "admin" in refused.json["errors"]["weekday"]


async def test_shortcuts_open_the_check_in_modal_with_a_note_from_the_message(
    bot: Bot,
) -> None:
    await seed(bot)
    response = await bot.sender.send(shortcut("checkin_shortcut", user_id="U1"))
    assert response.status == 200
    [opened] = await bot.slack.wait_for("views.open")
    assert json.loads(opened.params["view"]["private_metadata"])["krs"] == [1, 3]
    posted = await (await bot.services.clients.for_team("T1")).chat_postMessage(
        channel="C1", text="We shipped the *new* onboarding & doubled signups"
    )
    message = {
        "type": "message",
        "ts": posted["ts"],
        "text": posted["message"]["text"],
        "user": "U2",
    }
    await bot.sender.send(
        shortcut("checkin_note_shortcut", user_id="U1", message=message, channel_id="C1")
    )
    calls = await bot.slack.wait_for("views.open", 2)
    notes = [
        b["element"].get("initial_value", "")
        for b in calls[1].params["view"]["blocks"]
        if b.get("block_id", "").endswith("_note")
    ]
    assert notes and all("doubled signups" in n and "/archives/C1/p" in n for n in notes)
    response = await bot.sender.send(shortcut("checkin_shortcut", user_id="U3"))
    assert response.status == 200  # cleo owns nothing: told so in her DM, no modal
    await bot.slack.wait_until(lambda: bool(bot.slack.messages("U3")), timeout=5)
    assert "no active key results" in bot.slack.messages("U3")[-1]["text"]
    assert len(bot.slack.calls_to("views.open")) == 2


async def test_a_burst_of_changes_publishes_once(bot: Bot) -> None:
    await seed(bot)
    await open_home(bot, "U1")
    published = len(bot.slack.calls_to("views.publish"))
    for value in ("11", "12", "13"):
        state = {"kr1_value": {"value": {"type": "plain_text_input", "value": value}}}
        await bot.sender.submit_view(
            "checkin_submit", state, private_metadata='{"prompt": null, "krs": [1]}', user_id="U1"
        )
    await bot.services.drain()
    mine = [
        c for c in bot.slack.calls_to("views.publish")[published:] if c.params["user_id"] == "U1"
    ]
    assert len(mine) == 1
    assert "13 teams" in section_of(mine[0].params["view"], "My key results")


async def test_the_tick_uses_the_reminder_delay_an_admin_chose(bot: Bot) -> None:
    await seed(bot)  # Monday's prompts are out
    await open_home(bot, "UADMIN")
    option = {"text": {"type": "plain_text", "text": "Monday"}, "value": "0"}
    state = {
        "weekday": {"weekday": {"type": "static_select", "selected_option": option}},
        "time": {"time": {"type": "plain_text_input", "value": "09:00"}},
        "reminder": {"hours": {"type": "number_input", "value": "2"}},
        "digest": {"hours": {"type": "number_input", "value": "0"}},
        "escalation": {"hours": {"type": "number_input", "value": "24"}},
    }
    response = await bot.sender.submit_view("home_settings_submit", state, user_id="UADMIN")
    assert response.status == 200 and not response.text
    report = await tick(bot.services, bot.clock.advance(hours=2, minutes=1))
    assert report.done.get("reminders planned", 0) >= 1  # not after the default 24 h
