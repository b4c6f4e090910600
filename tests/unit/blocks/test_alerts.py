"""bot.blocks.alerts: the alert card in every state, valid Block Kit, user text escaped."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.blocks.alerts import AlertView, render_alert, render_repeat_reply, render_resolved_reply
from tests.support.slack_emulator import validate_message

T0 = datetime(2026, 11, 25, 10, tzinfo=UTC)
OPEN = AlertView(
    alert_id=7,
    kind="range",
    kpi_key="signup_rate",
    kpi_name="Signup conversion",
    unit="%",
    value=7.2,
    value_at=T0,
    low=2.0,
    high=5.0,
    opened_at=T0,
    resolved_at=None,
    acknowledged_by=None,
    acknowledged_at=None,
    snoozed_until=None,
    expected_interval_seconds=None,
    chart_file_id="F1",
    owner_id="U0ANA",
    affects=("KR-3 of O-1", "KR-5 of O-2"),
)


def texts(message: object) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)  # type: ignore[attr-defined]


def test_an_open_alert_pings_its_owner_names_what_it_affects_and_shows_its_chart() -> None:
    message = render_alert(OPEN)
    assert validate_message(message.text, message.blocks) == []
    assert (
        message.blocks[0]["text"]["text"]
        == ":rotating_light: Signup conversion is above its normal range"
    )
    assert "*Out by*\\n2.2% above (73% of the range)" in texts(message)
    assert "Owner <@U0ANA> · affects KR-3 of O-1, KR-5 of O-2" in texts(message)
    [image] = [b for b in message.blocks if b["type"] == "image"]
    assert image["slack_file"] == {"id": "F1"}
    assert [e["text"]["text"] for e in message.blocks[-1]["elements"]][:2] == [
        "Acknowledge",
        "Snooze 1 hour",
    ]


def test_back_inside_but_not_yet_resolved_reads_as_recovering() -> None:
    message = render_alert(replace(OPEN, value=3.3))
    assert "back in range, confirming" in message.blocks[0]["text"]["text"]
    assert "outside its normal range" not in texts(message) and "Out by" not in texts(message)


def test_who_snoozed_and_acknowledged_and_until_when() -> None:
    view = replace(
        OPEN,
        snoozed_until=T0 + timedelta(hours=1),
        snoozed_by="U0BEN",
        acknowledged_by="U0CAT",
        acknowledged_at=T0 + timedelta(minutes=5),
    )
    body = texts(render_alert(view))
    at = int((T0 + timedelta(minutes=5)).timestamp())
    until = int((T0 + timedelta(hours=1)).timestamp())
    # each reader sees their own zone; UTC only where a client cannot format dates
    assert (
        f"acknowledged by <@U0CAT> <!date^{at}^{{date_short}} {{time}}|2026-11-25 10:05 UTC>"
        in body
    )
    assert f"until <!date^{until}^{{date_short}} {{time}}|2026-11-25 11:00 UTC>" in body
    assert "snoozed by <@U0BEN> until" in body
    assert "Acknowledge" not in body  # acknowledged: only snoozes remain


def test_a_hostile_name_and_unit_are_escaped_everywhere_including_the_fallback() -> None:
    nasty = replace(
        OPEN, kpi_name="<!channel> urgent <https://evil.example|click>", unit="<@U1>", affects=()
    )
    for message in (
        render_alert(nasty),
        render_resolved_reply(replace(nasty, resolved_at=T0), "1.0"),
        render_repeat_reply(nasty, "1.0"),
    ):
        assert "<!channel>" not in message.text and "<https://" not in message.text
        mrkdwn = [
            b["text"]["text"] for b in message.blocks if b["type"] == "section" and "text" in b
        ] + [f["text"] for b in message.blocks for f in b.get("fields", [])]
        assert all("<!channel>" not in t and "<https://" not in t for t in mrkdwn)
        assert validate_message(message.text, message.blocks) == []


def test_no_data_alert_says_the_interval_in_words() -> None:
    view = replace(
        OPEN, kind="no_data", expected_interval_seconds=3600, value=None, low=None, high=None
    )
    assert "expects a measurement every hour" in texts(render_alert(view))
    view = replace(view, expected_interval_seconds=900)
    assert "expects a measurement every 15 minutes" in texts(render_alert(view))
    view = replace(view, expected_interval_seconds=86400)
    assert "expects a measurement every day" in texts(render_alert(view))
