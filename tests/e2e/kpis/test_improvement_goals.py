"""A KPI out of its normal range for more than a quarter of the last four weeks is named
in the channel's weekly digest as a candidate improvement goal; its button opens a
prefilled "new key result that follows this KPI" modal, and saving it adds the key
result (starting at the KPI's latest value). The digest also shows, per objective, the
health of the KPIs its key results follow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.runtime.jobs import tick
from storage.models import KeyResult, Kpi
from tests.support.harness import Bot

NOV_12 = datetime(2026, 11, 12, 10, 0, tzinfo=UTC)
MONDAY_9_MADRID = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
NEXT_MONDAY_9_UTC = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def goal_state(objective: str, title: str, target: str, owner: str) -> dict[str, Any]:
    return {
        "objective": {
            "objective": {"type": "static_select", "selected_option": {"value": objective}}
        },
        "title": {"title": {"type": "plain_text_input", "value": title}},
        "target": {"target": {"type": "plain_text_input", "value": target}},
        "owner": {"owner": {"type": "users_select", "selected_user": owner}},
    }


async def digest_with_a_candidate(bot: Bot) -> dict[str, Any]:
    """api_latency was over its bound for 8 of the 28 days before the digest (29 %)."""
    bot.clock.now = NOV_12
    for kpi in (
        'add api_latency "API p95" unit ms max 300 channel #growth',
        'add signup_rate "Signup conversion" unit % min 2 max 5 channel #growth',
    ):
        assert "Created KPI" in (await bot.command(kpi, command="/kpi")).text
    await bot.command('objective add "Grow" channel #growth')
    await bot.command('kr add O-1 "Conversion at 4%" from 2 to 4 follows signup_rate')
    await bot.command('kr add O-1 "Weekly active teams" from 120 to 200 unit teams')
    await bot.command("record api_latency 480", command="/kpi", timeout=30)
    await bot.command("record signup_rate 3.1", command="/kpi", timeout=30)
    await bot.services.drain()
    bot.clock.now = NOV_12 + timedelta(days=8)  # back in range on Nov 20
    await bot.command("record api_latency 150", command="/kpi", timeout=30)
    await bot.services.drain()
    for at in (MONDAY_9_MADRID, NEXT_MONDAY_9_UTC, NEXT_MONDAY_9_UTC + timedelta(minutes=5)):
        bot.clock.now = at
        await tick(bot.services, at)
    digests = [m for m in bot.slack.messages("C2") if "digest" in m["text"].lower()]
    return digests[-1]  # the week of Nov 30, posted on Dec 7


async def test_the_digest_names_a_kpi_that_keeps_leaving_its_range(bot: Bot) -> None:
    digest = await digest_with_a_candidate(bot)
    sections = [b for b in digest["blocks"] if b["type"] == "section"]
    [grow] = [b["text"]["text"] for b in sections if b["text"]["text"].startswith("*O-1 Grow*")]
    assert "KPIs: `signup_rate` ok" in grow.splitlines()
    [candidate] = [b for b in sections if "Candidate improvement goal" in b["text"]["text"]]
    assert candidate["text"]["text"] == (
        ":bulb: *Candidate improvement goal:* `api_latency` (API p95) was outside its "
        "normal range 29% of the last four weeks."
    )
    assert candidate["accessory"]["action_id"] == "kpi_goal_open"
    assert candidate["accessory"]["value"] == "api_latency"
    # A KPI a key result already follows is a goal already: not a candidate.
    assert not any("`signup_rate` (" in b["text"]["text"] for b in sections)


async def test_the_button_opens_a_prefilled_modal_that_adds_the_key_result(bot: Bot) -> None:
    digest = await digest_with_a_candidate(bot)
    opened = await bot.sender.action(
        "kpi_goal_open", "api_latency", user_id="U1", channel_id="C2", message_ts=digest["ts"]
    )
    assert opened.status == 200
    [call] = await bot.slack.wait_for("views.open")
    view = call.params["view"]
    by_id = {b.get("block_id"): b for b in view["blocks"]}
    assert by_id["objective"]["element"]["initial_option"]["value"] == "1"
    assert by_id["title"]["element"]["initial_value"] == "Keep API p95 in its normal range"
    assert by_id["owner"]["element"]["initial_user"] == "U1"  # the KPI's owner
    assert "starts at the latest value, 150 ms" in view["blocks"][0]["text"]["text"]
    metadata = view["private_metadata"]

    async def submit(target: str, objective: str = "1") -> dict[str, Any]:
        response = await bot.sender.submit_view(
            "kpi_goal_submit",
            goal_state(objective, "  Keep API p95 under   100 ms ", target, "U2"),
            user_id="U1",
            private_metadata=metadata,
        )
        assert response.status == 200
        return response.json or {}

    async def key_results() -> list[KeyResult]:
        async with bot.services.db.session() as session:
            return list((await session.scalars(select(KeyResult).order_by(KeyResult.id))).all())

    assert (await submit("")) == {
        "response_action": "errors",
        "errors": {"target": "Enter the value that means done."},
    }
    assert (await submit("fast"))["errors"].keys() == {"target"}
    assert (await submit("150"))["errors"]["target"].startswith("150 is where it stands")
    assert (await submit("100", objective="99"))["errors"].keys() == {"objective"}
    assert len(await key_results()) == 2  # nothing stored by any of those

    assert (await submit("100")) == {}
    added = (await key_results())[-1]
    async with bot.services.db.session() as session:
        latency = await session.scalar(select(Kpi).where(Kpi.key == "api_latency"))
    assert latency is not None
    assert (added.number, added.title, added.owner_id) == (3, "Keep API p95 under 100 ms", "U2")
    assert (added.kind, added.start_value, added.target_value) == ("decrease", 150.0, 100.0)
    assert (added.kpi_id, added.current_value, added.unit) == (latency.id, 150.0, "ms")
    [told] = await bot.slack.wait_for("chat.postEphemeral")
    assert told.params["channel"] == "C2" and told.params["user"] == "U1"
    assert "KR-3" in told.params["text"] and "api_latency" in told.params["text"]


async def test_a_forged_goal_button_opens_nothing(bot: Bot) -> None:
    await bot.command('objective add "Grow" channel #growth')
    for value in ("<!channel>", "no_such_kpi"):
        response = await bot.sender.action(
            "kpi_goal_open", value, user_id="U1", channel_id="C2", message_ts="1.2"
        )
        assert response.status == 200
    refusals = await bot.slack.wait_for("chat.postEphemeral", count=2)
    assert "not one okrbot sent" in refusals[0].params["text"]
    assert "no KPI `no_such_kpi`" in refusals[1].params["text"]
    assert bot.slack.calls_to("views.open") == []
